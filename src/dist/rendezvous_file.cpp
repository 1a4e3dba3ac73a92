// The file: rendezvous, through a folder every rank sees.
//
// Files, in the folder: alibi-rendezvous[-JOB].blob, written by rank 0, and
// alibi-rendezvous[-JOB].ack<R>, written by rank R once it has read the
// blob. JOB is the launcher's job id (or ALIBI_JOB_ID), so concurrent jobs
// sharing the folder never meet.
//
// The blob file starts with one text line,
//   alibi-rendezvous 1 token=<16 hex> world=<N> written_ns=<unix ns> bytes=<size>
// then the blob. The token is random per run; an ack holds the token of the
// blob it answers, so rank 0 counts only acks of this run.
//
// Staleness rule (a file left by an earlier run must not be taken):
//   * rank 0 deletes any leftover blob and acks of this job name before it
//     writes, and deletes its blob and the acks when it returns or throws —
//     so only a rank 0 killed mid-rendezvous leaves a file behind;
//   * the file is written atomically (temporary file + rename), so a reader
//     sees a whole file or none;
//   * a non-root rank takes a blob only if its world size matches and it was
//     written no earlier than (the moment this rank began waiting - the
//     time-out - 10 s). A rank 0 of the same run that wrote earlier than
//     that would have given up waiting already; the 10 s allow for clock
//     differences between nodes.
// What remains: a rank 0 killed less than time-out + 10 s ago, under the
// same job name (or with no job id at all), could hand its blob to a rank of
// the next run that looks before the new rank 0 cleans up. Launchers give
// each run its own job id (scripts/launch_local.sh sets ALIBI_JOB_ID), which
// closes that gap.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/atomic_file.h"
#include "dist/rendezvous_detail.h"

namespace alibi::dist {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr auto kClockSkew = std::chrono::seconds(10);

struct Paths {
  std::string folder, stem;
  std::string blob() const { return folder + "/" + stem + ".blob"; }
  std::string ack(int rank) const { return folder + "/" + stem + ".ack" + std::to_string(rank); }
};

Paths paths_for(const LaunchInfo& launch, const std::string& address) {
  const std::string job = rendezvous_job_key(launch);
  return {address.substr(5), job.empty() ? "alibi-rendezvous" : "alibi-rendezvous-" + job};
}

int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_token() {
  std::random_device device;
  const uint64_t bits = (uint64_t{device()} << 32) ^ device() ^ static_cast<uint64_t>(wall_ns()) ^
                        (static_cast<uint64_t>(::getpid()) << 16);
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(bits));
  return text;
}

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct BlobFile {
  std::string token;
  int world = 0;
  int64_t written_ns = 0;
  std::vector<uint8_t> blob;
  std::string problem;  // why it cannot be used, or ""
};

std::string encode(const std::string& token, int world, const std::vector<uint8_t>& blob) {
  std::ostringstream header;
  header << "alibi-rendezvous 1 token=" << token << " world=" << world << " written_ns=" << wall_ns()
         << " bytes=" << blob.size() << "\n";
  return header.str() + std::string(blob.begin(), blob.end());
}

BlobFile decode(const std::string& text) {
  BlobFile f;
  const size_t newline = text.find('\n');
  std::istringstream header(text.substr(0, newline));
  std::string magic, version, token, world, written, bytes;
  header >> magic >> version >> token >> world >> written >> bytes;
  size_t size = 0;
  try {
    if (newline == std::string::npos || magic != "alibi-rendezvous" || version != "1" || token.rfind("token=", 0) ||
        world.rfind("world=", 0) || written.rfind("written_ns=", 0) || bytes.rfind("bytes=", 0)) {
      throw std::invalid_argument("header");
    }
    f.token = token.substr(6);
    f.world = std::stoi(world.substr(6));
    f.written_ns = std::stoll(written.substr(11));
    size = std::stoull(bytes.substr(6));
  } catch (const std::exception&) {
    f.problem = "not a rendezvous file of this version";
    return f;
  }
  if (text.size() - newline - 1 != size) {
    f.problem = "truncated";
    return f;
  }
  f.blob.assign(text.begin() + static_cast<long>(newline) + 1, text.end());
  return f;
}

// Removes this run's files on every way out of rank 0.
class Cleanup {
 public:
  Cleanup(const Paths& paths, int world) : paths_(paths), world_(world) {}
  ~Cleanup() { remove_all(); }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  void remove_all() const {
    std::error_code ignored;
    std::filesystem::remove(paths_.blob(), ignored);
    for (int r = 1; r < world_; ++r) std::filesystem::remove(paths_.ack(r), ignored);
  }

 private:
  const Paths& paths_;
  int world_;
};

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
  return out;
}

std::vector<uint8_t> publish(const LaunchInfo& launch, const std::string& address, const std::vector<uint8_t>& blob,
                             std::chrono::milliseconds timeout) {
  const Paths paths = paths_for(launch, address);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  make_directories(paths.folder);
  Cleanup cleanup(paths, launch.world_size);
  cleanup.remove_all();  // leftovers of an earlier run under this job name
  const std::string token = random_token();
  write_text_atomically(paths.blob(), encode(token, launch.world_size, blob));
  while (true) {
    std::vector<int> missing;
    for (int r = 1; r < launch.world_size; ++r) {
      if (read_whole(paths.ack(r)) != token) missing.push_back(r);
    }
    if (missing.empty()) return blob;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("rendezvous at " + address + ": rank 0 waited " + seconds_text(timeout) + " but rank" +
                               (missing.size() > 1 ? "s " : " ") + rank_list(missing) + " of " +
                               std::to_string(launch.world_size) + " never arrived (no acknowledgement of " +
                               paths.blob() + ")");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Why `f` is not this run's blob, or "".
std::string staleness(const BlobFile& f, const LaunchInfo& launch, int64_t oldest_ns) {
  if (!f.problem.empty()) return f.problem;
  if (f.world != launch.world_size) {
    return "its world size is " + std::to_string(f.world) + ", this run's " + std::to_string(launch.world_size);
  }
  if (f.written_ns < oldest_ns) {
    const double age_s = static_cast<double>(wall_ns() - f.written_ns) / 1e9;
    return "written " + std::to_string(static_cast<long long>(age_s)) + " s ago, before this run (stale)";
  }
  return "";
}

std::vector<uint8_t> fetch(const LaunchInfo& launch, const std::string& address, std::chrono::milliseconds timeout) {
  const Paths paths = paths_for(launch, address);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int64_t oldest_ns =
      wall_ns() - std::chrono::duration_cast<std::chrono::nanoseconds>(timeout + kClockSkew).count();
  std::string ignored;
  while (true) {
    if (const auto text = read_whole(paths.blob())) {
      BlobFile f = decode(*text);
      ignored = staleness(f, launch, oldest_ns);
      if (ignored.empty()) {
        write_text_atomically(paths.ack(launch.rank), f.token);
        return std::move(f.blob);
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("rendezvous at " + address + ": " + launch.label() + ": rank 0's file " + paths.blob() +
                               " never appeared within " + seconds_text(timeout) +
                               (ignored.empty() ? "" : " (ignored the file there: " + ignored + ")") +
                               "; is rank 0 running, and do all ranks see " + paths.folder + "?");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

std::vector<uint8_t> share_over_file(const LaunchInfo& launch, const std::string& address,
                                     const std::vector<uint8_t>& root_blob, std::chrono::milliseconds timeout) {
  if (launch.rank == 0) return publish(launch, address, root_blob, timeout);
  return fetch(launch, address, timeout);
}

}  // namespace alibi::dist
