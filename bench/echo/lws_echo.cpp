// closewise_echo_lws: a libwebsockets 4.1 echo server for issue 4 (Debian's
// libwebsockets-dev, the plain lws C API, compiled as C++).
//
// Configuration: one service thread on lws's default poll() event loop, no
// TLS, no extensions, logging at errors only, rx_buffer_size 64 KiB and a
// 64 KiB per-thread service buffer (so a 64 KiB message is read in few
// syscalls), tx_packet_size 128 KiB (lws never splits our writes), no UTF-8
// validation option (the load is binary; lws does not validate by default).
// The echo follows the lws contract: a message is gathered in a per-session
// buffer with LWS_PRE headroom (grown, then reused), rx flow control pauses
// the connection while the echo is pending, and the write happens in
// LWS_CALLBACK_SERVER_WRITEABLE. Text and binary are mirrored.
// Usage: closewise_echo_lws [PORT]; with PORT 0 the chosen port is printed.
#include <libwebsockets.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct session {
  unsigned char* buf;  // LWS_PRE headroom, then the message
  size_t cap;          // bytes after the headroom
  size_t len;
  bool binary;
  bool pending;
};

volatile std::sig_atomic_t interrupted = 0;

bool reserve(session& s, size_t need) {
  if (s.buf && need <= s.cap) return true;  // an empty message needs a buffer too
  size_t cap = s.cap ? s.cap : 256;
  while (cap < need) cap *= 2;
  auto* p = static_cast<unsigned char*>(std::realloc(s.buf, LWS_PRE + cap));
  if (!p) return false;
  s.buf = p;
  s.cap = cap;
  return true;
}

int callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* s = static_cast<session*>(user);
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
      *s = session{};
      break;
    case LWS_CALLBACK_RECEIVE: {
      if (s->len == 0) s->binary = lws_frame_is_binary(wsi) != 0;
      if (!reserve(*s, s->len + len)) return -1;
      if (len) std::memcpy(s->buf + LWS_PRE + s->len, in, len);
      s->len += len;
      if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
        s->pending = true;
        lws_rx_flow_control(wsi, 0);
        lws_callback_on_writable(wsi);
      }
      break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      if (!s->pending) break;
      const int n =
          lws_write(wsi, s->buf + LWS_PRE, s->len, s->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
      if (n < static_cast<int>(s->len)) return -1;
      s->pending = false;
      s->len = 0;
      lws_rx_flow_control(wsi, 1);
      break;
    }
    case LWS_CALLBACK_CLOSED:
      std::free(s->buf);
      *s = session{};
      break;
    default:
      break;
  }
  return 0;
}

const lws_protocols protocols[] = {
    {"echo", callback, sizeof(session), 65536, 0, nullptr, 128 * 1024},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 0;
  std::signal(SIGINT, [](int) { interrupted = 1; });
  std::signal(SIGTERM, [](int) { interrupted = 1; });
  lws_set_log_level(LLL_ERR, nullptr);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.port = port;
  info.iface = "127.0.0.1";
  info.protocols = protocols;
  info.count_threads = 1;
  info.pt_serv_buf_size = 65536;
  info.gid = -1;
  info.uid = -1;
  lws_context* ctx = lws_create_context(&info);
  if (!ctx) return 1;
  lws_vhost* vh = lws_create_vhost(ctx, &info);
  if (!vh) return 1;
  std::printf("%d\n", lws_get_vhost_listen_port(vh));
  std::fflush(stdout);
  while (!interrupted && lws_service(ctx, 0) >= 0) {
  }
  lws_context_destroy(ctx);
  return 0;
}
