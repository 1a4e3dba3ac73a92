#include "eval/plot.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "core/install_paths.h"

namespace alibi {

namespace {

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

constexpr int kScriptNoGnuplot = 3;  // plot_eval.sh's status when gnuplot is missing

}  // namespace

std::string plot_script_path() {
  const char* custom = std::getenv("ALIBI_PLOT_SCRIPT");
  if (custom && *custom) return custom;
  return shared_file("plot_eval.sh").string();
}

std::string draw_plot(const std::string& csv_path, const std::string& png_path, const std::string& metric) {
  const std::string script = plot_script_path();
  if (!std::filesystem::exists(script)) return "the plot script " + script + " is missing (set ALIBI_PLOT_SCRIPT)";
  // The script's own messages go to stderr; its stdout (the PNG path) is not needed.
  const std::string command = "bash " + shell_quote(script) + " " + shell_quote(csv_path) + " " +
                              shell_quote(png_path) + " " + shell_quote(metric) + " > /dev/null";
  const int status = std::system(command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0) return "";
  if (code == kScriptNoGnuplot)
    return "gnuplot is not installed (Debian: apt-get install gnuplot-nox, or run scripts/setup.sh)";
  return "the plot script " + script + " failed (status " + std::to_string(code) + ")";
}

}  // namespace alibi
