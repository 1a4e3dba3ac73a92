#include "eval/report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

namespace alibi {

namespace {

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// Full round-trip precision for machine-read files.
std::string exact(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

using Cells = std::vector<std::string>;

Cells table_cells(const EvalRow& r) {
  Cells head = {r.label, r.position, std::to_string(r.length)};
  if (!r.available) {
    head.insert(head.end(), {r.note, "", "", "", "", ""});
    return head;
  }
  head.insert(head.end(), {r.mode, std::to_string(r.stride), std::to_string(r.tokens_scored), fixed(r.token_ppl, 2),
                           r.word_ppl > 0 ? fixed(r.word_ppl, 2) : "n/a", fixed(r.tokens_per_s, 0)});
  return head;
}

}  // namespace

std::string format_table(const std::vector<EvalRow>& rows) {
  const Cells header = {"checkpoint", "position", "L", "mode", "stride", "tokens", "token ppl", "word ppl", "tok/s"};
  // Text columns align left, numbers right; a note spans the columns after L.
  const std::vector<bool> numeric = {false, false, true, false, true, true, true, true, true};
  std::vector<Cells> lines = {header};
  for (const EvalRow& r : rows) lines.push_back(table_cells(r));
  std::vector<size_t> width(header.size(), 0);
  for (size_t i = 0; i < lines.size(); ++i) {
    const bool note = i > 0 && !rows[i - 1].available;
    for (size_t c = 0; c < header.size(); ++c)
      if (!(note && c == 3)) width[c] = std::max(width[c], lines[i][c].size());
  }
  std::ostringstream out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const bool note = i > 0 && !rows[i - 1].available;
    std::string line;
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string& cell = lines[i][c];
      if (note && c == 3) {
        line += "  " + cell;
        break;
      }
      const std::string pad(width[c] - cell.size(), ' ');
      line += (c ? "  " : "") + (numeric[c] ? pad + cell : cell + pad);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  return out.str();
}

std::string format_json(const std::vector<EvalRow>& rows) {
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const EvalRow& r : rows) {
    nlohmann::ordered_json j = {{"checkpoint", r.checkpoint}, {"label", r.label},       {"position", r.position},
                                {"step", r.step},             {"train_length", r.train_length},
                                {"dataset", r.dataset},       {"split", r.split},       {"length", r.length},
                                {"mode", r.mode},             {"stride", r.stride},     {"available", r.available}};
    if (!r.available) {
      j["note"] = r.note;
    } else {
      j.update({{"tokens_scored", r.tokens_scored}, {"tokens_processed", r.tokens_processed}, {"nll", r.nll},
                {"token_ppl", r.token_ppl},         {"word_units", r.word_units},             {"word_ppl", r.word_ppl},
                {"seconds", r.seconds},             {"tokens_per_s", r.tokens_per_s},
                {"batch_windows", r.batch_windows}});
    }
    results.push_back(j);
  }
  return nlohmann::ordered_json{{"results", results}}.dump(1) + "\n";
}

namespace {

// RFC 4180: quote a field holding a comma, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::string format_csv(const std::vector<EvalRow>& rows) {
  std::ostringstream out;
  out << "label,checkpoint,position,step,train_length,dataset,split,length,mode,stride,available,"
         "tokens_scored,nll,token_ppl,word_units,word_ppl,seconds,tokens_per_s,note\n";
  for (const EvalRow& r : rows) {
    out << csv_field(r.label) << ',' << csv_field(r.checkpoint) << ',' << r.position << ',' << r.step << ','
        << r.train_length << ',' << csv_field(r.dataset) << ',' << csv_field(r.split) << ',' << r.length << ','
        << r.mode << ',' << r.stride << ',' << (r.available ? 1 : 0) << ',';
    if (r.available)
      out << r.tokens_scored << ',' << exact(r.nll) << ',' << exact(r.token_ppl) << ',' << exact(r.word_units) << ','
          << exact(r.word_ppl) << ',' << exact(r.seconds) << ',' << exact(r.tokens_per_s) << ',';
    else
      out << ",,,,,,,";
    out << csv_field(r.note) << '\n';
  }
  return out.str();
}

}  // namespace alibi
