// Drawing the perplexity-against-length plot with scripts/plot_eval.sh.
#pragma once

#include <string>

namespace alibi {

// The plot script: $ALIBI_PLOT_SCRIPT, else plot_eval.sh of the binary's
// share/alibi-lm (core/install_paths.h).
std::string plot_script_path();

// Runs the script on an alibi-eval CSV. Returns "" on success, else what
// went wrong (gnuplot missing, script missing, script failed).
std::string draw_plot(const std::string& csv_path, const std::string& png_path, const std::string& metric);

}  // namespace alibi
