// The one exception type of the data pipeline. Every message names the file
// (or argument) and says what is wrong, so a user can fix the input without
// reading the code.
#pragma once

#include <stdexcept>
#include <string>

namespace alibi {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace alibi
