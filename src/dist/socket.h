// The few TCP pieces the rendezvous needs: an owning socket, a listener, a
// bounded connect, and length-prefixed frames read and written under a
// deadline. Every socket is non-blocking and every wait is a poll() with a
// time limit, so nothing here can block past its deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace alibi::dist {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Milliseconds from now until `deadline`, clamped to [0, cap_ms].
int millis_until(Deadline deadline, int cap_ms = 1 << 30);

// Owns a file descriptor; closes it when destroyed (every path, exceptions too).
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { reset(); }
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release();
  void reset();

 private:
  int fd_ = -1;
};

// A listening socket on `port`: loopback only when `host` is a loopback
// literal (127.0.0.1, localhost, ::1), else every interface (IPv6 and IPv4
// where the kernel allows both). SO_REUSEADDR, so a port left in TIME_WAIT
// by the previous run is reusable at once. Returns an invalid socket with
// `error` set on failure; `in_use` tells whether another process holds the port.
Socket listen_on(const std::string& host, int port, std::string& error, bool& in_use);

// Accepts one pending connection (non-blocking), or returns an invalid socket.
Socket accept_one(const Socket& listener, std::string& peer);

// One attempt to connect to host:port (every address it resolves to),
// bounded by `deadline`. Returns an invalid socket with `error` set on failure.
Socket connect_to(const std::string& host, int port, Deadline deadline, std::string& error);

// Frames: a 4-byte big-endian length, then that many bytes (at most kMaxFrame).
inline constexpr uint32_t kMaxFrame = 1u << 20;

bool send_frame(const Socket& socket, const std::vector<uint8_t>& payload, Deadline deadline, std::string& error);

// Collects one frame from whatever bytes arrive, so a server can read many
// peers at once; read_available() never blocks.
class FrameReader {
 public:
  enum class Status { kPartial, kDone, kClosed, kError };
  Status read_available(const Socket& socket);
  const std::vector<uint8_t>& payload() const { return payload_; }
  const std::string& error() const { return error_; }

 private:
  std::vector<uint8_t> header_;
  std::vector<uint8_t> payload_;
  uint32_t expected_ = 0;
  bool have_length_ = false;
  std::string error_;
};

// Reads one whole frame, waiting at most until `deadline`.
bool recv_frame(const Socket& socket, std::vector<uint8_t>& payload, Deadline deadline, std::string& error);

void put_u32(std::vector<uint8_t>& out, uint32_t value);
uint32_t get_u32(const uint8_t* in);

}  // namespace alibi::dist
