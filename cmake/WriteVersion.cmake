# Writes OUTPUT (from cmake/version.h.in) with the project version and the
# source tree's git commit, on every build; configure_file leaves the file
# alone when nothing changed, so only a new commit recompiles version.cpp.
# Variables: SOURCE_DIR, OUTPUT, ALIBI_VERSION.
execute_process(COMMAND git -C "${SOURCE_DIR}" describe --always --dirty --abbrev=12 --exclude "*"
                OUTPUT_VARIABLE ALIBI_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE status ERROR_QUIET)
if(NOT status EQUAL 0 OR ALIBI_GIT_COMMIT STREQUAL "")
  set(ALIBI_GIT_COMMIT "unknown (not built from a git checkout)")
endif()
configure_file("${SOURCE_DIR}/cmake/version.h.in" "${OUTPUT}" @ONLY)
