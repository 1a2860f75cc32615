// The frame, handshake and listening code shared by the two yardsticks of the echo
// benchmark (floor_echo.cpp on epoll, floor_uring_echo.cpp on io_uring). It
// answers bench/echo/loadgen.cpp and nothing more is promised: no UTF-8
// check, no fragmentation, no ping handling, a 64 MiB frame limit.
#pragma once

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace floor_echo {

// Set by SIGINT or SIGTERM (see stop_on_signals); the event loops poll it.
inline volatile std::sig_atomic_t g_stop = 0;

inline void stop_on_signals() {
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
}

// A listening socket on 127.0.0.1:`port` (0: any free port) with SO_REUSEADDR,
// created with `socket_flags` (e.g. SOCK_NONBLOCK). Sets `bound` to the port;
// -1 after printing why, prefixed with `who`.
inline int listen_loopback(std::uint16_t port, int socket_flags, const char* who,
                           std::uint16_t& bound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | socket_flags, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd, 4096) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &al) != 0) {
    std::fprintf(stderr, "%s: listen on 127.0.0.1:%u: %s\n", who, static_cast<unsigned>(port),
                 std::strerror(errno));
    return -1;
  }
  bound = ntohs(a.sin_port);
  return fd;
}

// What both yardsticks keep per connection for parsing; each adds its own
// I/O state.
struct wire_state {
  bool upgraded = false;
  bool closing = false;           // close frame echoed: close once output drains
  std::vector<unsigned char> in;  // unparsed input [0, in_len)
  std::size_t in_len = 0;
  std::vector<unsigned char> out;  // replies not yet handed to the kernel
};

inline std::string accept_key(std::string_view key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string s(key);
  s += guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  unsigned char b64[32];
  const int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n));
}

// Consumes complete frames from c->in into c->out; false on a protocol error.
inline bool frames(wire_state* c) {
  std::size_t pos = 0;
  unsigned char* b = c->in.data();
  while (!c->closing) {
    const std::size_t avail = c->in_len - pos;
    if (avail < 2) break;
    const unsigned char* h = b + pos;
    if (!(h[1] & 0x80)) return false;  // clients must mask
    std::uint64_t len = h[1] & 0x7f;
    std::size_t hl = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (std::uint64_t{h[2]} << 8) | h[3];
      hl = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | h[2 + i];
      hl = 10;
    }
    if (len > (std::uint64_t{64} << 20)) return false;
    if (avail < hl + 4 + len) {
      if (c->in.size() < pos + hl + 4 + len) c->in.resize(pos + hl + 4 + len);
      break;
    }
    const unsigned char* mask = h + hl;
    unsigned char* p = b + pos + hl + 4;
    for (std::uint64_t i = 0; i < len; ++i) p[i] ^= mask[i & 3];
    // Server header: same first byte, unmasked length.
    unsigned char sh[10];
    std::size_t shl = 2;
    sh[0] = h[0];
    if (len < 126) {
      sh[1] = static_cast<unsigned char>(len);
    } else if (len < 65536) {
      sh[1] = 126;
      sh[2] = static_cast<unsigned char>(len >> 8);
      sh[3] = static_cast<unsigned char>(len);
      shl = 4;
    } else {
      sh[1] = 127;
      for (int i = 0; i < 8; ++i) sh[2 + i] = static_cast<unsigned char>(len >> (56 - 8 * i));
      shl = 10;
    }
    c->out.insert(c->out.end(), sh, sh + shl);
    c->out.insert(c->out.end(), p, p + len);
    if ((h[0] & 0x0f) == 0x8) c->closing = true;
    pos += hl + 4 + len;
  }
  if (pos > 0) {
    std::memmove(c->in.data(), c->in.data() + pos, c->in_len - pos);
    c->in_len -= pos;
  }
  return true;
}

inline bool handshake(wire_state* c) {
  const std::string_view req(reinterpret_cast<const char*>(c->in.data()), c->in_len);
  const auto end = req.find("\r\n\r\n");
  if (end == std::string_view::npos) return c->in_len < 8192;
  static constexpr std::string_view name = "Sec-WebSocket-Key: ";
  const auto k = req.find(name);
  if (k == std::string_view::npos || k > end) return false;
  const auto v = k + name.size();
  const auto e = req.find("\r\n", v);
  std::string resp =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  resp += accept_key(req.substr(v, e - v));
  resp += "\r\n\r\n";
  c->out.insert(c->out.end(), resp.begin(), resp.end());
  const std::size_t used = end + 4;
  std::memmove(c->in.data(), c->in.data() + used, c->in_len - used);
  c->in_len -= used;
  c->upgraded = true;
  return true;
}

}  // namespace floor_echo
