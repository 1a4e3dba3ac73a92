#include "dist/rendezvous.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "dist/rendezvous_detail.h"

namespace alibi {

namespace dist {

TcpAddress parse_tcp_address(const std::string& address) {
  const std::string prefix = "tcp://";
  auto bad = [&](const std::string& why) {
    return std::runtime_error("rendezvous address '" + address + "': " + why + " (expected tcp://HOST:PORT)");
  };
  if (address.rfind(prefix, 0) != 0) throw bad("not a tcp:// address");
  const std::string rest = address.substr(prefix.size());
  TcpAddress out;
  size_t colon;
  if (!rest.empty() && rest[0] == '[') {  // [IPv6]:PORT
    const size_t close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') throw bad("bad [IPv6] host");
    out.host = rest.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = rest.rfind(':');
    if (colon == std::string::npos) throw bad("no port");
    out.host = rest.substr(0, colon);
  }
  if (out.host.empty()) throw bad("no host");
  const std::string port = rest.substr(colon + 1);
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (ec != std::errc() || ptr != port.data() + port.size() || out.port < 1 || out.port > 65535) {
    throw bad("port '" + port + "' is not a number in 1..65535");
  }
  return out;
}

std::string rendezvous_job_key(const LaunchInfo& launch) {
  std::string id = launch.job_id;
  if (id.empty()) {
    const char* env = std::getenv("ALIBI_JOB_ID");
    if (env) id = env;
  }
  for (char& c : id) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == '_';
    if (!safe) c = '_';
  }
  return id;
}

std::string seconds_text(std::chrono::milliseconds duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(duration.count()) / 1000.0);
  return text;
}

}  // namespace dist

namespace {

bool is_tcp(const std::string& address) { return address.rfind("tcp://", 0) == 0; }
bool is_file(const std::string& address) { return address.rfind("file:", 0) == 0 && address.size() > 5; }

// Throws unless `address` is a usable tcp:// or file: address; `origin` says where it came from.
void check_address(const std::string& address, const std::string& origin) {
  if (is_tcp(address)) {
    dist::parse_tcp_address(address);
    return;
  }
  if (is_file(address)) return;
  throw std::runtime_error("rendezvous address '" + address + "'" + origin +
                           " is neither tcp://HOST:PORT nor file:PATH (\"auto\" and \"mpi\" are config values)");
}

}  // namespace

bool rendezvous_is_mpi(const std::string& configured) { return configured == "mpi"; }

std::vector<uint8_t> share_from_rank0(const LaunchInfo& launch, const std::string& address,
                                      const std::vector<uint8_t>& root_blob, std::chrono::milliseconds timeout) {
  if (launch.world_size <= 1) return root_blob;
  check_address(address, "");
  if (timeout.count() <= 0) throw std::runtime_error("rendezvous: the time-out must be positive");
  if (launch.rank == 0 && root_blob.size() > 65536) {
    throw std::runtime_error("rendezvous: a blob of " + std::to_string(root_blob.size()) +
                             " bytes is larger than this small-message exchange allows (64 KiB)");
  }
  if (is_tcp(address)) return dist::share_over_tcp(launch, address, root_blob, timeout);
  return dist::share_over_file(launch, address, root_blob, timeout);
}

std::string resolve_rendezvous_address(const std::string& configured, const LaunchInfo& launch, const EnvLookup& env) {
  if (configured != "auto") {
    check_address(configured, "");
    return configured;
  }
  const char* explicit_address = env("ALIBI_RENDEZVOUS");
  if (explicit_address && *explicit_address) {
    check_address(explicit_address, " (from ALIBI_RENDEZVOUS)");
    return explicit_address;
  }
  const char* master_addr = env("MASTER_ADDR");
  const char* master_port = env("MASTER_PORT");
  if (master_addr && *master_addr && master_port && *master_port) {
    const std::string address = std::string("tcp://") + master_addr + ":" + master_port;
    check_address(address, " (from MASTER_ADDR and MASTER_PORT)");
    return address;
  }
  if (launch.local_world_size == launch.world_size) {
    return "tcp://127.0.0.1:" + std::to_string(kDefaultRendezvousPort);
  }
  throw std::runtime_error(
      "rendezvous \"auto\": " + launch.label() + " runs on several nodes (" + std::to_string(launch.local_world_size) +
      " of " + std::to_string(launch.world_size) +
      " ranks on this one), so rank 0's address must be given: set ALIBI_RENDEZVOUS=tcp://HOST:PORT (HOST: "
      "rank 0's node) or ALIBI_RENDEZVOUS=file:/a/shared/folder, or MASTER_ADDR and MASTER_PORT, or launch "
      "with mpirun and use rendezvous \"mpi\"");
}

}  // namespace alibi
