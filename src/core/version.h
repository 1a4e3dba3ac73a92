// What every binary's --version prints: the release and the git commit it
// was built from.
#pragma once

#include <string>

namespace alibi {

// "alibi-lm 0.1.0 (commit 0123456789ab)"
std::string version_text();

}  // namespace alibi
