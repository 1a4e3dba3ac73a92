// Shared between the rendezvous transports (rendezvous_tcp.cpp,
// rendezvous_file.cpp) and their front door (rendezvous.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dist/launch_env.h"

namespace alibi::dist {

struct TcpAddress {
  std::string host;
  int port = 0;
};

// "tcp://HOST:PORT" or "tcp://[IPv6]:PORT"; throws naming the address when malformed.
TcpAddress parse_tcp_address(const std::string& address);

// Names this run for the rendezvous: the launcher's job id, else
// ALIBI_JOB_ID, else "" — restricted to [A-Za-z0-9._-] so it is safe in a file name.
std::string rendezvous_job_key(const LaunchInfo& launch);

// "1.5 s", for messages.
std::string seconds_text(std::chrono::milliseconds duration);

// `address` is the full original text, for messages.
std::vector<uint8_t> share_over_tcp(const LaunchInfo& launch, const std::string& address,
                                    const std::vector<uint8_t>& root_blob, std::chrono::milliseconds timeout);
std::vector<uint8_t> share_over_file(const LaunchInfo& launch, const std::string& address,
                                     const std::vector<uint8_t>& root_blob, std::chrono::milliseconds timeout);

}  // namespace alibi::dist
