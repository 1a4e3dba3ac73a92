# Finds every third-party dependency. Each one missing fails configure with
# the Debian package that provides it (scripts/setup.sh installs them all).

function(alibi_require found_var debian_package what)
  if(NOT ${found_var})
    message(FATAL_ERROR
      "alibi-lm: ${what} not found. Install the Debian package '${debian_package}' "
      "(or run: bash scripts/setup.sh)")
  endif()
endfunction()

find_package(PkgConfig)
alibi_require(PKG_CONFIG_FOUND pkg-config "pkg-config")

find_package(Threads REQUIRED)

find_package(OpenMP COMPONENTS CXX)
alibi_require(OpenMP_CXX_FOUND libgomp1 "OpenMP (libgomp)")

find_package(yaml-cpp CONFIG QUIET)
alibi_require(yaml-cpp_FOUND libyaml-cpp-dev "yaml-cpp")
if(NOT TARGET yaml-cpp::yaml-cpp)
  add_library(yaml-cpp::yaml-cpp ALIAS yaml-cpp)
endif()

find_package(nlohmann_json CONFIG QUIET)
alibi_require(nlohmann_json_FOUND nlohmann-json3-dev "nlohmann/json")

find_package(CLI11 CONFIG QUIET)
alibi_require(CLI11_FOUND libcli11-dev "CLI11")

pkg_check_modules(SentencePiece QUIET IMPORTED_TARGET sentencepiece)
alibi_require(SentencePiece_FOUND libsentencepiece-dev "SentencePiece")

if(ALIBI_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
  if(NOT GTest_FOUND)
    find_package(GTest QUIET)
  endif()
  alibi_require(GTest_FOUND libgtest-dev "GoogleTest")
endif()

# MPI is optional: with it, `mpirun` launches share the NCCL id by MPI_Bcast
# and CPU ranks reduce through MPI; without it, ranks meet over TCP or a file
# (docs/distributed.md).
option(ALIBI_WITH_MPI "Use MPI when it is found" ON)
set(ALIBI_HAVE_MPI OFF)
if(ALIBI_WITH_MPI)
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(ALIBI_HAVE_MPI ON)
    message(STATUS "alibi-lm: MPI ${MPI_CXX_VERSION} found (${MPI_CXX_LIBRARY_VERSION_STRING})")
  else()
    message(STATUS "alibi-lm: no MPI found (install libopenmpi-dev for mpirun launches and CPU data parallelism)")
  endif()
endif()
