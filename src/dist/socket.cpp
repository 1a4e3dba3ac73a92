#include "dist/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace alibi::dist {

int millis_until(Deadline deadline, int cap_ms) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, cap_ms));
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

int Socket::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void Socket::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

std::string errno_text() { return std::strerror(errno); }

Socket new_socket(int family) {
  return Socket(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

// Waits until `fd` is ready for `events`; false on time-out.
bool wait_for(int fd, short events, Deadline deadline) {
  pollfd p{fd, events, 0};
  while (true) {
    const int n = ::poll(&p, 1, millis_until(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool is_loopback_name(const std::string& host) { return host == "127.0.0.1" || host == "localhost"; }

Socket bind_and_listen(int family, const sockaddr* addr, socklen_t len, std::string& error, bool& in_use) {
  Socket s = new_socket(family);
  if (!s) {
    error = "socket(): " + errno_text();
    return {};
  }
  const int one = 1, zero = 0;
  ::setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Dual stack: IPv4 clients reach an IPv6 wildcard listener too.
  if (family == AF_INET6) ::setsockopt(s.fd(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (::bind(s.fd(), addr, len) != 0 || ::listen(s.fd(), 128) != 0) {
    in_use = errno == EADDRINUSE;
    error = "bind/listen: " + errno_text();
    return {};
  }
  return s;
}

}  // namespace

Socket listen_on(const std::string& host, int port, std::string& error, bool& in_use) {
  in_use = false;
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(static_cast<uint16_t>(port));
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(static_cast<uint16_t>(port));
  if (is_loopback_name(host)) {
    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return bind_and_listen(AF_INET, reinterpret_cast<sockaddr*>(&v4), sizeof v4, error, in_use);
  }
  if (host == "::1") {
    v6.sin6_addr = in6addr_loopback;
    return bind_and_listen(AF_INET6, reinterpret_cast<sockaddr*>(&v6), sizeof v6, error, in_use);
  }
  v6.sin6_addr = in6addr_any;
  Socket s = bind_and_listen(AF_INET6, reinterpret_cast<sockaddr*>(&v6), sizeof v6, error, in_use);
  if (s || in_use) return s;
  // No IPv6 in this kernel or container: plain IPv4.
  v4.sin_addr.s_addr = htonl(INADDR_ANY);
  return bind_and_listen(AF_INET, reinterpret_cast<sockaddr*>(&v4), sizeof v4, error, in_use);
}

Socket accept_one(const Socket& listener, std::string& peer) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  Socket s(::accept4(listener.fd(), reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!s) return s;
  char host[NI_MAXHOST] = "?";
  ::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
  peer = host;
  return s;
}

namespace {

// Connects to one resolved address, waiting for the handshake until `deadline`.
Socket connect_one(const addrinfo* ai, Deadline deadline, std::string& error) {
  Socket s = new_socket(ai->ai_family);
  if (!s) {
    error = "socket(): " + errno_text();
    return {};
  }
  if (::connect(s.fd(), ai->ai_addr, ai->ai_addrlen) == 0) return s;
  if (errno != EINPROGRESS) {
    error = errno_text();
    return {};
  }
  if (!wait_for(s.fd(), POLLOUT, deadline)) {
    error = "connect timed out";
    return {};
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    error = std::strerror(so_error);
    return {};
  }
  return s;
}

}  // namespace

Socket connect_to(const std::string& host, int port, Deadline deadline, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
  if (rc != 0) {
    error = "cannot resolve '" + host + "': " + ::gai_strerror(rc);
    return {};
  }
  Socket s;
  for (const addrinfo* ai = list; ai && !s; ai = ai->ai_next) s = connect_one(ai, deadline, error);
  ::freeaddrinfo(list);
  return s;
}

void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

uint32_t get_u32(const uint8_t* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | uint32_t{in[3]};
}

bool send_frame(const Socket& socket, const std::vector<uint8_t>& payload, Deadline deadline, std::string& error) {
  std::vector<uint8_t> bytes;
  put_u32(bytes, static_cast<uint32_t>(payload.size()));
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  size_t sent = 0;
  while (sent < bytes.size()) {
    // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE.
    const ssize_t n = ::send(socket.fd(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!wait_for(socket.fd(), POLLOUT, deadline)) {
        error = "send timed out";
        return false;
      }
    } else {
      error = "send: " + errno_text();
      return false;
    }
  }
  return true;
}

FrameReader::Status FrameReader::read_available(const Socket& socket) {
  while (true) {
    std::vector<uint8_t>& target = have_length_ ? payload_ : header_;
    const size_t want = have_length_ ? expected_ : 4;
    if (target.size() == want) {
      if (have_length_) return Status::kDone;
      expected_ = get_u32(header_.data());
      if (expected_ > kMaxFrame) {
        error_ = "frame of " + std::to_string(expected_) + " bytes is too large (not an alibi rendezvous peer?)";
        return Status::kError;
      }
      have_length_ = true;
      continue;
    }
    uint8_t buffer[4096];
    const ssize_t n = ::recv(socket.fd(), buffer, std::min(sizeof buffer, want - target.size()), 0);
    if (n > 0) {
      target.insert(target.end(), buffer, buffer + n);
    } else if (n == 0) {
      return Status::kClosed;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Status::kPartial;
    } else if (errno != EINTR) {
      error_ = "recv: " + errno_text();
      return Status::kError;
    }
  }
}

bool recv_frame(const Socket& socket, std::vector<uint8_t>& payload, Deadline deadline, std::string& error) {
  FrameReader reader;
  while (true) {
    switch (reader.read_available(socket)) {
      case FrameReader::Status::kDone:
        payload = reader.payload();
        return true;
      case FrameReader::Status::kClosed:
        error = "connection closed by the peer";
        return false;
      case FrameReader::Status::kError:
        error = reader.error();
        return false;
      case FrameReader::Status::kPartial:
        if (!wait_for(socket.fd(), POLLIN, deadline)) {
          error = "no reply in time";
          return false;
        }
    }
  }
}

}  // namespace alibi::dist
