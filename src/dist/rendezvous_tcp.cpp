// The tcp:// rendezvous. Rank 0 listens and answers each rank's hello with
// the blob at once; it returns when all world_size-1 ranks have said who
// they are, or throws at the time-out naming those that did not.
//
// hello:  "ALRV", u32 version, u32 rank, u32 world size, job key bytes
// reply:  u8 status (0: the blob follows; 1: rejected, a message follows;
//         2: another job's rank 0, a message follows — the client retries,
//         since its own rank 0 may get the port once that job is done)
// Both travel as length-prefixed frames (socket.h).
#include <poll.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "dist/rendezvous_detail.h"
#include "dist/socket.h"

namespace alibi::dist {

namespace {

constexpr uint32_t kVersion = 1;
constexpr char kMagic[4] = {'A', 'L', 'R', 'V'};
constexpr uint8_t kAccepted = 0, kRejected = 1, kOtherJob = 2;
constexpr const char* kOtherJobText = "the rank 0 listening there belongs to another job: ";

struct Hello {
  bool well_formed = false;
  int rank = -1, world = 0;
  std::string job;
};

std::vector<uint8_t> hello_message(const LaunchInfo& launch, const std::string& job) {
  std::vector<uint8_t> out(kMagic, kMagic + 4);
  put_u32(out, kVersion);
  put_u32(out, static_cast<uint32_t>(launch.rank));
  put_u32(out, static_cast<uint32_t>(launch.world_size));
  out.insert(out.end(), job.begin(), job.end());
  return out;
}

Hello parse_hello(const std::vector<uint8_t>& in) {
  Hello hello;
  if (in.size() < 16 || !std::equal(kMagic, kMagic + 4, in.begin()) || get_u32(&in[4]) != kVersion) return hello;
  hello.well_formed = true;
  hello.rank = static_cast<int>(get_u32(&in[8]));
  hello.world = static_cast<int>(get_u32(&in[12]));
  hello.job.assign(in.begin() + 16, in.end());
  return hello;
}

std::vector<uint8_t> reply_message(uint8_t status, const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  std::vector<uint8_t> out(1 + size, status);
  std::copy(bytes, bytes + size, out.begin() + 1);
  return out;
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
  return out;
}

class Rank0Server {
 public:
  Rank0Server(const LaunchInfo& launch, const std::string& address, const std::vector<uint8_t>& blob,
              std::chrono::milliseconds timeout)
      : launch_(launch), address_(address), blob_(blob), timeout_(timeout),
        deadline_(Clock::now() + timeout), job_(rendezvous_job_key(launch)), arrived_(launch.world_size, false) {
    arrived_[0] = true;
  }

  void run() {
    const Socket listener = listen_until_deadline();
    while (missing_ranks().size() > 0) {
      if (Clock::now() >= deadline_) fail_missing();
      wait_and_serve(listener);
    }
  }

 private:
  struct Pending {
    Socket socket;
    FrameReader reader;
    std::string peer;
  };

  // The port may still be held by a run that is just ending; keep trying.
  Socket listen_until_deadline() {
    const TcpAddress where = parse_tcp_address(address_);
    while (true) {
      std::string error;
      bool in_use = false;
      Socket s = listen_on(where.host, where.port, error, in_use);
      if (s) return s;
      if (!in_use || Clock::now() >= deadline_) {
        throw std::runtime_error("rendezvous at " + address_ + ": rank 0 cannot listen on port " +
                                 std::to_string(where.port) + ": " + error +
                                 (in_use ? " (another job on this node uses it? set another port)" : ""));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(200, millis_until(deadline_))));
    }
  }

  void wait_and_serve(const Socket& listener) {
    std::vector<pollfd> fds{{listener.fd(), POLLIN, 0}};
    for (const Pending& p : pending_) fds.push_back({p.socket.fd(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), millis_until(deadline_, 250)) <= 0) return;  // time-out or EINTR
    // Serve the connections first: accepting appends to pending_, which
    // would shift the indices that `fds` refers to.
    for (size_t i = fds.size() - 1; i >= 1; --i) {
      if (fds[i].revents != 0) serve(i - 1);
    }
    if (fds[0].revents & POLLIN) accept_all(listener);
  }

  void accept_all(const Socket& listener) {
    while (true) {
      Pending p;
      p.socket = accept_one(listener, p.peer);
      if (!p.socket) return;
      pending_.push_back(std::move(p));
    }
  }

  // Reads what connection `i` sent; on a whole hello, answers and drops it.
  void serve(size_t i) {
    Pending& p = pending_[i];
    const FrameReader::Status status = p.reader.read_available(p.socket);
    if (status == FrameReader::Status::kPartial) return;
    if (status == FrameReader::Status::kDone) answer(p, parse_hello(p.reader.payload()));
    if (status == FrameReader::Status::kError) rejected_.push_back("from " + p.peer + ": " + p.reader.error());
    pending_.erase(pending_.begin() + static_cast<long>(i));
  }

  void answer(const Pending& p, const Hello& hello) {
    const std::string refusal = check(hello);
    std::string error;
    const Deadline send_by = Clock::now() + std::chrono::seconds(2);  // a small reply; the peer is waiting
    if (!refusal.empty()) {
      rejected_.push_back("from " + p.peer + ": " + refusal);
      const uint8_t status = is_other_job(hello) ? kOtherJob : kRejected;
      send_frame(p.socket, reply_message(status, refusal.data(), refusal.size()), send_by, error);
      return;
    }
    if (send_frame(p.socket, reply_message(kAccepted, blob_.data(), blob_.size()), send_by, error)) {
      arrived_[hello.rank] = true;
    } else {
      rejected_.push_back("rank " + std::to_string(hello.rank) + " from " + p.peer + " (reply failed: " + error + ")");
    }
  }

  bool is_other_job(const Hello& hello) const {
    return hello.well_formed &&
           (hello.world != launch_.world_size || (!hello.job.empty() && !job_.empty() && hello.job != job_));
  }

  // Why `hello` is refused, or "".
  std::string check(const Hello& hello) const {
    const int world = launch_.world_size;
    if (!hello.well_formed) return "not an alibi rendezvous hello (another program on this port?)";
    if (hello.world != world) {
      return "rank " + std::to_string(hello.rank) + " says the world size is " + std::to_string(hello.world) +
             ", rank 0 says " + std::to_string(world) + " (a different job on the same port?)";
    }
    if (!hello.job.empty() && !job_.empty() && hello.job != job_) {
      return "rank " + std::to_string(hello.rank) + " belongs to job '" + hello.job + "', rank 0 to job '" + job_ + "'";
    }
    if (hello.rank < 1 || hello.rank >= world) {
      return "rank " + std::to_string(hello.rank) + " is out of range 1.." + std::to_string(world - 1);
    }
    if (arrived_[hello.rank]) return "rank " + std::to_string(hello.rank) + " arrived twice (duplicate rank)";
    return "";
  }

  std::vector<int> missing_ranks() const {
    std::vector<int> out;
    for (int r = 0; r < launch_.world_size; ++r) {
      if (!arrived_[r]) out.push_back(r);
    }
    return out;
  }

  [[noreturn]] void fail_missing() const {
    const std::vector<int> missing = missing_ranks();
    std::string message = "rendezvous at " + address_ + ": rank 0 waited " + seconds_text(timeout_) + " but rank" +
                          (missing.size() > 1 ? "s " : " ") + rank_list(missing) + " of " +
                          std::to_string(launch_.world_size) + " never arrived";
    if (!rejected_.empty()) {
      message += "; rejected connections:";
      for (const std::string& r : rejected_) message += " [" + r + "]";
    }
    throw std::runtime_error(message);
  }

  const LaunchInfo& launch_;
  const std::string& address_;
  const std::vector<uint8_t>& blob_;
  const std::chrono::milliseconds timeout_;
  const Deadline deadline_;
  const std::string job_;
  std::vector<bool> arrived_;
  std::vector<Pending> pending_;
  std::vector<std::string> rejected_;
};

// Returns the blob, or throws at once when rank 0 refused this rank.
std::vector<uint8_t> read_reply(const std::vector<uint8_t>& reply, const LaunchInfo& launch, const std::string& address) {
  if (!reply.empty() && reply[0] == kAccepted) return {reply.begin() + 1, reply.end()};
  const std::string why = reply.size() > 1 && reply[0] == kRejected ? std::string(reply.begin() + 1, reply.end())
                                                                    : "a malformed reply";
  throw std::runtime_error("rendezvous at " + address + ": rank 0 refused " + launch.label() + ": " + why);
}

// One try: connect, say hello, read the reply. Returns false with `error` set when it should be retried.
bool try_once(const LaunchInfo& launch, const std::string& address, const TcpAddress& where,
              const std::vector<uint8_t>& hello, Deadline deadline, std::vector<uint8_t>& blob, std::string& error) {
  const Deadline connect_by = std::min(deadline, Clock::now() + std::chrono::seconds(2));
  const Socket s = connect_to(where.host, where.port, connect_by, error);
  if (!s) return false;
  std::vector<uint8_t> reply;
  if (!send_frame(s, hello, deadline, error) || !recv_frame(s, reply, deadline, error)) {
    error = "connected, but " + error;
    return false;
  }
  if (!reply.empty() && reply[0] == kOtherJob) {
    error = kOtherJobText + std::string(reply.begin() + 1, reply.end());
    return false;
  }
  blob = read_reply(reply, launch, address);
  return true;
}

std::vector<uint8_t> receive_from_rank0(const LaunchInfo& launch, const std::string& address,
                                        std::chrono::milliseconds timeout) {
  const TcpAddress where = parse_tcp_address(address);
  const Deadline deadline = Clock::now() + timeout;
  const std::vector<uint8_t> hello = hello_message(launch, rendezvous_job_key(launch));
  std::string last_error = "no attempt finished";
  std::string other_job;  // kept: more telling than whatever the last attempt met
  while (Clock::now() < deadline) {
    std::vector<uint8_t> blob;
    if (try_once(launch, address, where, hello, deadline, blob, last_error)) return blob;
    if (last_error.rfind(kOtherJobText, 0) == 0) other_job = last_error;
    // Rank 0 may not be listening yet: try again shortly.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100, millis_until(deadline))));
  }
  throw std::runtime_error("rendezvous at " + address + ": " + launch.label() + " could not reach rank 0 within " +
                           seconds_text(timeout) + " (last error: " + last_error +
                           (other_job.empty() || other_job == last_error ? "" : "; before that: " + other_job) +
                           "); is rank 0 running, and is " + where.host + " its address?");
}

}  // namespace

std::vector<uint8_t> share_over_tcp(const LaunchInfo& launch, const std::string& address,
                                    const std::vector<uint8_t>& root_blob, std::chrono::milliseconds timeout) {
  if (launch.rank != 0) return receive_from_rank0(launch, address, timeout);
  Rank0Server(launch, address, root_blob, timeout).run();
  return root_blob;
}

}  // namespace alibi::dist
