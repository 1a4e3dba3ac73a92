#include "core/version.h"

#include "alibi_version.h"  // generated into the build tree by cmake/WriteVersion.cmake

namespace alibi {

std::string version_text() { return std::string("alibi-lm ") + ALIBI_VERSION + " (commit " + ALIBI_GIT_COMMIT + ")"; }

}  // namespace alibi
