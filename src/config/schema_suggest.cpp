// "Did you mean": the nearest config name to a misspelt one.
#include "config/schema.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

namespace alibi {

// ---------------------------------------------------------------------------
// Suggestions for unknown names.
// ---------------------------------------------------------------------------
namespace {

// Edits (insert, delete, substitute, swap two neighbours) that turn a into b:
// the optimal-string-alignment distance, which counts a swap as one typo.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// Distance between what was typed in a position and a valid name there; a
// prefix ("warmup" for "warmup_steps") counts as a near miss.
size_t name_distance(std::string_view typed, std::string_view valid) {
  size_t d = edit_distance(typed, valid);
  bool prefix = typed.size() >= 3 && (valid.starts_with(typed) || typed.starts_with(valid));
  return prefix ? std::min<size_t>(d, 1) : d;
}

}  // namespace

std::string nearest_config_name(std::string_view typed) {
  size_t dot = typed.find('.');
  std::string_view typed_section = dot == std::string_view::npos ? "" : typed.substr(0, dot);
  std::string_view typed_field = dot == std::string_view::npos ? typed : typed.substr(dot + 1);

  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  auto consider = [&](const std::string& candidate, size_t distance) {
    if (distance < best_distance) best = candidate, best_distance = distance;
  };
  for (const ConfigKey& k : config_keys()) {
    consider(k.name, edit_distance(typed, k.name));
    // The right field under the wrong (or no) section costs one edit.
    size_t field_distance = name_distance(typed_field, k.field());
    consider(k.name, k.section() == typed_section ? field_distance : field_distance + 1);
  }
  if (dot == std::string_view::npos) {
    for (const ConfigSection& s : config_sections()) consider(s.name, name_distance(typed, s.name));
  }
  // Beyond a few edits a "suggestion" is a different word, not a typo.
  size_t tolerance = std::clamp<size_t>(typed_field.size() / 3, 1, 3);
  return best_distance <= tolerance ? best : "";
}

}  // namespace alibi
