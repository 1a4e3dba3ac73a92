// Deterministic train/valid/test split of a corpus.
//
// Several documents: documents are assigned to splits by a seeded shuffle
// (whole documents only, so no text leaks across splits); each split keeps
// the original document order. One document (a single text file): its lines
// are cut into contiguous blocks, train first, then valid, then test at the
// end, so the held-out text is contiguous and unseen.
#pragma once

#include <cstdint>
#include <vector>

#include "data/corpus.h"

namespace alibi {

struct SplitFractions {
  double valid = 0.05;
  double test = 0.05;
};

struct CorpusSplits {
  std::vector<Document> train, valid, test;
};

// Throws DataError when the fractions are out of range or leave train empty.
CorpusSplits split_corpus(std::vector<Document> documents, const SplitFractions& fractions, uint64_t seed);

}  // namespace alibi
