#include "closewise/proto/connection.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <random>
#include <utility>

#include "byte_buffer.hpp"
#include "closewise/error.hpp"

namespace closewise::proto {

std::string_view to_string(state s) noexcept {
  // clang-format off
  switch (s) {
    case state::connecting: return "connecting";
    case state::open: return "open";
    case state::closing_local: return "closing_local";
    case state::closing_remote: return "closing_remote";
    case state::closed: return "closed";
  }
  // clang-format on
  return "unknown";
}

namespace {

// Buffers above this are released after use, so a connection that once saw a
// big message does not keep its memory while idle.
constexpr std::size_t keep_capacity = 64 * 1024;

// RFC 6455 §5.3: "the masking key MUST be derived from a strong source of
// entropy"; keys come from OpenSSL's CSPRNG in batches, so each frame pays a load.
std::uint32_t default_mask_key() noexcept {
  thread_local std::array<std::uint32_t, 64> pool{};
  thread_local std::size_t next = pool.size();
  if (next == pool.size()) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(pool.data()), static_cast<int>(sizeof(pool))) !=
        1) {
      std::random_device rd;  // only if the CSPRNG is unavailable
      for (auto& k : pool) k = rd();
    }
    next = 0;
  }
  return pool[next++];
}

// RFC 6455 §7.4.1: 1007 for data inconsistent with its type, 1009 for too big,
// 1002 for every other protocol error.
close_code failure_code(error e) noexcept {
  // clang-format off
  switch (e) {
    case error::invalid_utf8:
    case error::bad_compression: return close_code::invalid_payload;
    case error::message_too_big: return close_code::message_too_big;
    case error::unsupported_data: return close_code::unsupported_data;
    default: return close_code::protocol_error;
  }
  // clang-format on
}

// Short, fixed close reasons, so a failing frame is readable in a packet dump.
std::string_view failure_reason(error e) noexcept {
  // clang-format off
  switch (e) {
    case error::bad_opcode: return "reserved opcode";
    case error::bad_rsv: return "reserved bit set";
    case error::bad_masking: return "wrong masking";
    case error::bad_control_frame: return "bad control frame";
    case error::bad_continuation: return "bad fragmentation";
    case error::bad_length: return "bad frame length";
    case error::invalid_utf8: return "invalid UTF-8";
    case error::message_too_big: return "message too big";
    case error::bad_close_payload: return "bad close payload";
    case error::bad_close_code: return "bad close code";
    case error::bad_compression: return "bad compressed data";
    case error::unsupported_data: return "unsupported data type";
    default: return "protocol error";
  }
  // clang-format on
}

void release(std::string& s) noexcept {
  if (s.capacity() > keep_capacity) std::string().swap(s);
}

/// The opcodes an extension may define as control frames: 0xB-0xF (RFC 6455 §5.2).
constexpr std::uint16_t extension_control_mask = 0xF800;

/// The most a receive window reserves ahead of the bytes that fill it.
constexpr std::size_t max_window_ahead = std::size_t{1} << 20;

}  // namespace

struct connection::impl {
  impl(role r, handler& h, config c) : role_(r), h_(h), cfg_(std::move(c)) {
    if (c.deflate) dfl_ = std::make_unique<deflate_state>(r, *c.deflate, c.deflate_min_size);
  }

  /// The settings a connection reads after construction. Kept compact: a
  /// server holds one connection per client (ARCHITECTURE §6: <= 1 KiB each).
  struct settings {
    explicit settings(config&& c)
        : max_message(c.max_message),
          max_frame(c.max_frame),
          auto_pong(c.auto_pong),
          check_outgoing_utf8(c.check_outgoing_utf8),
          accept_text(c.accept_text),
          accept_binary(c.accept_binary),
          extension_controls(c.extension_control_opcodes & extension_control_mask),
          mask_key(c.mask_key
                       ? std::make_unique<std::function<std::uint32_t()>>(std::move(c.mask_key))
                       : nullptr) {}
    std::size_t max_message;
    std::size_t max_frame;
    bool auto_pong;
    bool check_outgoing_utf8;
    bool accept_text;
    bool accept_binary;
    std::uint16_t extension_controls;  ///< config::extension_control_opcodes, 0xB-0xF only
    std::unique_ptr<std::function<std::uint32_t()>> mask_key;  ///< tests only
  };

  // ---- state ---------------------------------------------------------------
  role role_;
  state st_ = state::connecting;
  bool close_sent_ = false;
  bool in_receive_ = false;
  bool delivering_ = false;                  // inside h_.on_message for a message in msg()
  initiator first_close_ = initiator::none;  // who sent the first close frame
  handler& h_;
  settings cfg_;
  /// Set once, when the connection closed; allocated then, so an open
  /// connection does not carry a close event's worth of bytes.
  std::unique_ptr<std::optional<close_event>> result_;
  std::string out_;

  // ---- receive: the frame being parsed ---------------------------------------
  bool reading_header_ = true;
  std::uint8_t hlen_ = 0;  // bytes of a split header in hbuf_
  std::array<std::uint8_t, max_header_size> hbuf_;
  frame_header fh_;
  std::uint64_t left_ = 0;  // payload bytes of fh_ not seen yet

  // ---- receive: the message being assembled ----------------------------------
  bool in_msg_ = false;
  bool msg_text_ = false;
  bool msg_deflated_ = false;
  std::uint64_t msg_size_ = 0;  // wire bytes of an uncompressed message so far
  utf8_validator utf8_;
  // Receive buffers, allocated the first time a frame needs one: most frames
  // arrive whole in one read and are delivered in place, so a connection
  // that only saw such frames (or none) holds no buffer.
  struct rx_buffers {
    detail::byte_buffer msg;  // fragments and split frames of an uncompressed message
    std::string inflated;     // a compressed message, inflated
    std::string scratch;      // unmasked copy of a frame from a read-only input
  };
  std::unique_ptr<rx_buffers> rx_;
  rx_buffers& rx() {
    if (!rx_) rx_ = std::make_unique<rx_buffers>();
    return *rx_;
  }
  detail::byte_buffer& msg() { return rx().msg; }
  std::string& inflated() { return rx().inflated; }
  std::string& scratch() { return rx().scratch; }
  // permessage-deflate, allocated only when negotiated, so plain connections stay small.
  struct deflate_state {
    deflate_state(role r, const deflate_params& p, std::size_t min) : codec(r, p), min_size(min) {}
    deflate_codec codec;
    std::size_t min_size;  ///< config::deflate_min_size
    std::string comp;      // compressed outgoing message
  };
  std::unique_ptr<deflate_state> dfl_;

  bool can_send() const noexcept { return st_ == state::open || st_ == state::closing_remote; }
  bool can_receive() const noexcept { return st_ == state::open || st_ == state::closing_local; }

  // ---- output ----------------------------------------------------------------
  std::uint32_t next_key() { return cfg_.mask_key ? (*cfg_.mask_key)() : default_mask_key(); }

  void write_frame(opcode op, bool rsv1, const void* payload, std::size_t n) {
    frame_header h;
    h.op = op;
    h.rsv1 = rsv1;
    h.length = n;
    // RFC 6455 §5.3: "A client MUST mask all frames that it sends to the server";
    // §5.1: "A server MUST NOT mask any frames that it sends to the client".
    if (role_ == role::client) {
      h.masked = true;
      h.mask_key = next_key();
    }
    std::uint8_t hdr[max_header_size];
    const std::size_t hs = encode_header(h, hdr);
    const std::size_t at = out_.size();
    out_.append(reinterpret_cast<const char*>(hdr), hs);
    out_.append(static_cast<const char*>(payload), n);
    if (h.masked) apply_mask(reinterpret_cast<std::uint8_t*>(out_.data() + at + hs), n, h.mask_key);
  }

  void write_close(close_code code, std::string_view reason) {
    std::uint8_t body[max_control_payload];
    std::size_t n = 0;
    // RFC 6455 §5.5.1: no body means no status code (reported as 1005 by the peer).
    if (code != close_code::no_status) {
      body[0] = static_cast<std::uint8_t>(to_int(code) >> 8);
      body[1] = static_cast<std::uint8_t>(to_int(code) & 0xFF);
      n = 2 + std::min(reason.size(), max_close_reason);
      if (n > 2) std::memcpy(body + 2, reason.data(), n - 2);
    }
    write_frame(opcode::close, false, body, n);
    close_sent_ = true;
    if (first_close_ == initiator::none) first_close_ = initiator::local;
  }

  std::error_code check_can_send() const noexcept {
    // RFC 6455 §5.5.1: "the endpoint MUST NOT send any more data frames" after a close.
    if (close_sent_) return error::already_closing;
    if (!can_send()) return error::not_open;
    return {};
  }

  /// What send() and send_external() both refuse: a closed or closing
  /// connection, and text that is not UTF-8 (the peer would fail us with 1007).
  std::error_code check_data(message_kind kind, std::string_view payload) const {
    if (auto ec = check_can_send()) return ec;
    if (kind == message_kind::text && cfg_.check_outgoing_utf8 && !is_valid_utf8(payload))
      return error::invalid_utf8;
    return {};
  }

  std::error_code send(message_kind kind, std::string_view payload) {
    if (auto ec = check_data(kind, payload)) return ec;
    const opcode op = kind == message_kind::text ? opcode::text : opcode::binary;
    if (dfl_ && payload.size() >= dfl_->min_size) {
      std::string& comp_ = dfl_->comp;
      comp_.clear();
      if (auto ec = dfl_->codec.compress(payload, comp_)) return ec;
      // RFC 7692 §6: RSV1 marks the first (here: only) frame of a compressed message.
      write_frame(op, true, comp_.data(), comp_.size());
      release(comp_);
      return {};
    }
    write_frame(op, false, payload.data(), payload.size());
    return {};
  }

  std::error_code send_external(message_kind kind, std::string_view payload, std::uint8_t* hdr,
                                std::size_t& hlen) {
    if (role_ != role::server || dfl_) return error::invalid_argument;
    if (auto ec = check_data(kind, payload)) return ec;
    frame_header h;
    h.op = kind == message_kind::text ? opcode::text : opcode::binary;
    h.length = payload.size();
    hlen = encode_header(h, hdr);
    return {};
  }

  std::error_code control(opcode op, std::string_view payload) {
    // RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".
    if (payload.size() > max_control_payload) return error::invalid_argument;
    if (auto ec = check_can_send()) return ec;
    write_frame(op, false, payload.data(), payload.size());
    return {};
  }

  std::error_code start_close(std::error_code valid, close_code code, std::string_view reason) {
    if (valid) return valid;
    if (close_sent_ || st_ == state::closing_remote) return error::already_closing;
    if (st_ != state::open) return error::not_open;
    write_close(code, reason);
    st_ = state::closing_local;
    return {};
  }

  // ---- endings ---------------------------------------------------------------
  void finish(close_event ev) {
    if (st_ == state::closed) return;
    st_ = state::closed;
    result_ = std::make_unique<std::optional<close_event>>(std::move(ev));
    if (!in_receive_) release_buffers();
    h_.on_closed(**result_);
  }

  void release_buffers() noexcept {
    rx_.reset();
    if (dfl_) std::string().swap(dfl_->comp);
  }

  /// Fails the connection because of the peer: RFC 6455 §7.1.7 "_Fail the
  /// WebSocket Connection_": send a close with the code if none was sent, then stop.
  void fail(error e) {
    if (st_ == state::closed) return;
    const close_code code = failure_code(e);
    const std::string_view reason = failure_reason(e);
    if (!close_sent_ && can_send()) write_close(code, reason);
    finish(close_event{code, std::string(reason), false, initiator::local, e});
  }

  void end_abnormally(std::error_code why, close_code reported) {
    if (st_ == state::closed) return;
    finish(close_event{reported, {}, false, first_close_, why});
  }

  // ---- receive -----------------------------------------------------------------
  void receive(const std::uint8_t* p, std::size_t n, bool writable) {
    if (st_ == state::connecting) {
      end_abnormally(error::not_open, close_code::abnormal);
      return;
    }
    in_receive_ = true;
    while (n != 0 && can_receive()) {
      if (reading_header_) {
        std::error_code ec;
        if (hlen_ == 0) {
          const std::size_t used = decode_header(p, n, fh_, ec);
          if (ec) {
            fail(error::bad_length);
            break;
          }
          if (used == 0) {  // a split header: keep the few bytes we have
            std::memcpy(hbuf_.data(), p, n);
            hlen_ = static_cast<std::uint8_t>(n);
            break;
          }
          p += used;
          n -= used;
        } else {
          const std::size_t take = std::min(n, hbuf_.size() - hlen_);
          std::memcpy(hbuf_.data() + hlen_, p, take);
          const std::size_t have = hlen_ + take;
          const std::size_t used = decode_header(hbuf_.data(), have, fh_, ec);
          if (ec) {
            fail(error::bad_length);
            break;
          }
          if (used == 0) {
            hlen_ = static_cast<std::uint8_t>(have);
            p += take;
            n -= take;
            continue;
          }
          p += used - hlen_;
          n -= used - hlen_;
          hlen_ = 0;
        }
        if (!start_frame()) break;
        // Fast path: a whole unfragmented, uncompressed data frame is delivered
        // as a view of the input, unmasked in place or into one scratch copy.
        if (begins_message(fh_.op)) {
          if (fh_.fin && !fh_.rsv1 && n >= left_) {
            const auto len = static_cast<std::size_t>(left_);
            deliver_whole(p, len, writable);
            p += len;
            n -= len;
            continue;
          }
          begin_message();
        } else if (is_control(fh_.op) && n >= left_) {
          // A whole control frame: unmasked in place or on the stack, no buffering.
          const auto len = static_cast<std::size_t>(left_);
          std::uint8_t copy[max_control_payload];
          const std::uint8_t* body =
              unmask(p, len, writable, [&copy](const std::uint8_t* src, std::size_t k) {
                std::memcpy(copy, src, k);
                return copy;
              });
          p += len;
          n -= len;
          on_control(std::string_view(reinterpret_cast<const char*>(body), len));
          continue;
        }
        reading_header_ = false;
        if (left_ == 0) {
          reading_header_ = true;
          end_frame();
        }
        continue;
      }
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, left_));
      if (!on_payload(p, k, writable)) break;
      p += k;
      n -= k;
      left_ -= k;
      if (left_ == 0) {
        reading_header_ = true;
        end_frame();
      }
    }
    after_receive();
  }

  void after_receive() noexcept {
    in_receive_ = false;
    if (st_ == state::closed) {
      release_buffers();
    } else if (!in_msg_ && rx_) {
      rx_->msg.release_above(keep_capacity);
      release(rx_->inflated);
      release(rx_->scratch);
    }
  }

  bool take_delivered(std::string_view payload, std::string& buf) noexcept {
    // Only the message being delivered, whole, from the connection's own buffer.
    if (!delivering_ || !rx_ || payload.data() != rx_->msg.data() ||
        payload.size() != rx_->msg.size() || !rx_->msg.allocated())
      return false;
    rx_->msg.swap_out(buf);
    delivering_ = false;  // the buffer now holds no message: once per delivery
    return true;
  }

  // ---- receive: payload read straight into the message ----------------------
  std::pair<char*, std::size_t> receive_window(std::size_t min_size) {
    if (reading_header_ || !can_receive() || is_control(fh_.op) || msg_deflated_ ||
        left_ < min_size)
      return {nullptr, 0};
    auto& b = msg();
    b.make_room(static_cast<std::size_t>(std::min<std::uint64_t>(left_, max_window_ahead)));
    const std::size_t room =
        static_cast<std::size_t>(std::min<std::uint64_t>(left_, b.capacity() - b.size()));
    return {b.data() + b.size(), room};
  }

  void commit_window(std::size_t k) {
    in_receive_ = true;
    auto& b = msg();
    auto* chunk = reinterpret_cast<std::uint8_t*>(b.data() + b.size());
    b.commit(k);
    if (take_plain(chunk, k)) {
      left_ -= k;
      if (left_ == 0) {
        reading_header_ = true;
        end_frame();
      }
    }
    after_receive();
  }

  /// Checks a header in context; fails the connection and returns false when it breaks a rule.
  bool start_frame() {
    const opcode op = fh_.op;
    const bool ctrl = is_control(op);
    const bool continues = op == opcode::continuation;
    // RFC 6455 §5.2: RSV2/RSV3 "MUST be 0 unless an extension is negotiated".
    if (fh_.rsv2 || fh_.rsv3) return fail(error::bad_rsv), false;
    // RFC 6455 §5.2: "If an unknown opcode is received, the receiving endpoint MUST
    // _Fail the WebSocket Connection_".
    if (is_reserved(op) && (cfg_.extension_controls & (1u << static_cast<unsigned>(op))) == 0)
      return fail(error::bad_opcode), false;
    // RFC 7692 §6: RSV1 means "compressed" only on the first frame of a data message.
    if (fh_.rsv1 && (!dfl_ || ctrl || continues)) return fail(error::bad_rsv), false;
    // RFC 6455 §5.1: a server MUST close on an unmasked frame, a client on a masked one.
    if (fh_.masked != (role_ == role::server)) return fail(error::bad_masking), false;
    left_ = fh_.length;
    if (ctrl) {
      // RFC 6455 §5.5: control frames are at most 125 bytes and "MUST NOT be fragmented".
      if (!fh_.fin || fh_.length > max_control_payload)
        return fail(error::bad_control_frame), false;
      if (rx_) rx_->scratch.clear();
      return true;
    }
    // RFC 6455 §5.4: continuations follow a started message; a new data frame may not
    // begin inside one (only control frames may be interleaved).
    if (continues != in_msg_) return fail(error::bad_continuation), false;
    // The type is known from the first frame: refuse it before reading a byte of it.
    if ((op == opcode::text && !cfg_.accept_text) || (op == opcode::binary && !cfg_.accept_binary))
      return fail(error::unsupported_data), false;
    if (fh_.length > cfg_.max_frame) return fail(error::message_too_big), false;
    const bool deflated = continues ? msg_deflated_ : fh_.rsv1;
    const std::uint64_t so_far = continues ? msg_size_ : 0;
    // RFC 6455 §10.4: refuse a message over the limit before reading it.
    if (!deflated &&
        fh_.length > cfg_.max_message - std::min<std::uint64_t>(so_far, cfg_.max_message))
      return fail(error::message_too_big), false;
    return true;
  }

  // ---- receive: unmasking ------------------------------------------------------
  /// Where the next payload byte of the frame falls in the 4-byte key stream.
  std::size_t key_offset() const noexcept {
    return static_cast<std::size_t>((fh_.length - left_) & 3);
  }

  /// RFC 6455 §5.3: unmasks `n` payload bytes of the current frame, the next
  /// ones after those already taken. The one place received bytes are unmasked:
  /// in place when the bytes may be written, else in the copy that `copy(p, n)`
  /// makes in a buffer of ours. Returns where the payload now is (`p` itself
  /// when the frame is not masked).
  template <class Copy>
  const std::uint8_t* unmask(const std::uint8_t* p, std::size_t n, bool writable, Copy&& copy) {
    if (!fh_.masked) return p;
    std::uint8_t* out = writable ? const_cast<std::uint8_t*>(p) : copy(p, n);
    apply_mask(out, n, fh_.mask_key, key_offset());
    return out;
  }
  /// unmask() of bytes that are already in a buffer of ours.
  void unmask_in_place(std::uint8_t* p, std::size_t n) {
    unmask(p, n, true, [](const std::uint8_t*, std::size_t) -> std::uint8_t* { return nullptr; });
  }
  /// A copy for unmask() in scratch(), replacing what it held.
  std::uint8_t* copy_to_scratch(const std::uint8_t* p, std::size_t n) {
    scratch().assign(reinterpret_cast<const char*>(p), n);
    return reinterpret_cast<std::uint8_t*>(scratch().data());
  }

  void begin_message() {
    in_msg_ = true;
    msg_text_ = fh_.op == opcode::text;
    msg_deflated_ = fh_.rsv1;
    msg_size_ = 0;
    if (rx_) {
      rx_->msg.clear();
      rx_->inflated.clear();
    }
    utf8_.reset();
  }

  void deliver_whole(const std::uint8_t* p, std::size_t len, bool writable) {
    const std::uint8_t* data =
        unmask(p, len, writable,
               [this](const std::uint8_t* src, std::size_t k) { return copy_to_scratch(src, k); });
    const bool text = fh_.op == opcode::text;
    if (text) {
      // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection (1007).
      utf8_validator v;
      if (!v.feed(data, len) || !v.finish()) return fail(error::invalid_utf8);
    }
    h_.on_message(text ? message_kind::text : message_kind::binary,
                  std::string_view(reinterpret_cast<const char*>(data), len));
  }

  /// `k` payload bytes of an uncompressed data frame just placed in msg()
  /// (still masked); false once the connection failed.
  bool take_plain(std::uint8_t* chunk, std::size_t k) {
    unmask_in_place(chunk, k);
    msg_size_ += k;
    // RFC 6455 §8.1 via incremental validation: fail as soon as the text
    // can no longer become UTF-8, not only at the end of the message.
    if (msg_text_ && !utf8_.feed(chunk, k)) return fail(error::invalid_utf8), false;
    return true;
  }

  /// Takes `k` payload bytes of the current frame; false once the connection failed.
  bool on_payload(const std::uint8_t* p, std::size_t k, bool writable) {
    if (is_control(fh_.op)) {
      // A control payload split across reads collects in scratch() (at most 125 bytes).
      const std::size_t at = scratch().size();
      scratch().append(reinterpret_cast<const char*>(p), k);
      unmask_in_place(reinterpret_cast<std::uint8_t*>(scratch().data() + at), k);
      return true;
    }
    if (!msg_deflated_) {
      const std::size_t at = msg().size();
      msg().append(reinterpret_cast<const char*>(p), k);
      return take_plain(reinterpret_cast<std::uint8_t*>(msg().data() + at), k);
    }
    const std::uint8_t* chunk =
        unmask(p, k, writable,
               [this](const std::uint8_t* src, std::size_t n) { return copy_to_scratch(src, n); });
    return inflate(std::string_view(reinterpret_cast<const char*>(chunk), k),
                   fh_.fin && left_ == k);
  }

  /// Inflates a piece of a compressed message into msg(), bounded by max_message.
  bool inflate(std::string_view chunk, bool fin) {
    const std::size_t at = inflated().size();
    // RFC 7692 §8.1 and RFC 6455 §10.4: the limit counts inflated bytes (1009), and the
    // codec stops there, so a deflate bomb never allocates past it.
    const std::error_code ec = dfl_->codec.decompress(chunk, fin, inflated(), cfg_.max_message);
    if (ec == error::message_too_big || inflated().size() > cfg_.max_message)
      return fail(error::message_too_big), false;
    // RFC 7692 §8.2.2: data that does not inflate fails the connection (1007 here).
    if (ec) return fail(error::bad_compression), false;
    if (msg_text_ && !utf8_.feed(reinterpret_cast<const std::uint8_t*>(inflated().data() + at),
                                 inflated().size() - at))
      return fail(error::invalid_utf8), false;
    return true;
  }

  void end_frame() {
    if (is_control(fh_.op)) {
      // An empty ping or pong (a heartbeat) never needed a buffer.
      on_control(rx_ ? std::string_view(rx_->scratch) : std::string_view());
      return;
    }
    if (!fh_.fin) return;
    // An empty final frame of a compressed message still has to flush the inflater.
    if (msg_deflated_ && fh_.length == 0 && !inflate({}, true)) return;
    in_msg_ = false;
    if (msg_text_ && !utf8_.finish()) return fail(error::invalid_utf8);
    const auto kind = msg_text_ ? message_kind::text : message_kind::binary;
    if (msg_deflated_) {
      h_.on_message(kind, inflated());
    } else {
      delivering_ = true;
      struct delivery {  // reset even if the handler throws
        bool& on;
        ~delivery() { on = false; }
      } d{delivering_};
      h_.on_message(kind, msg().view());
    }
    if (rx_) {
      rx_->msg.clear();
      rx_->inflated.clear();
    }
    msg_size_ = 0;
  }

  void on_control(std::string_view payload) {
    switch (fh_.op) {
      case opcode::ping:
        h_.on_ping(payload);
        // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
        // frame in response ... [with] identical Application data", unless it sent a close.
        if (cfg_.auto_pong && can_send() && !close_sent_)
          write_frame(opcode::pong, false, payload.data(), payload.size());
        return;
      case opcode::pong:
        // RFC 6455 §5.5.3: an unsolicited pong needs no response; it is only reported.
        h_.on_pong(payload);
        return;
      case opcode::close:
        on_close(payload);
        return;
      default:
        // Only opcodes a negotiated extension defines get here (start_frame).
        h_.on_extension_control(static_cast<std::uint8_t>(fh_.op), payload);
        return;
    }
  }

  void on_close(std::string_view payload) {
    close_payload cp;
    if (auto ec = parse_close_payload(payload, cp)) return fail(static_cast<error>(ec.value()));
    if (first_close_ == initiator::none) first_close_ = initiator::remote;
    if (st_ == state::closing_local) {
      // Our close went first (or crossed the peer's): both frames have now been exchanged.
      h_.on_close_frame(cp.code, cp.reason);
      finish(close_event{cp.code, std::string(cp.reason), true, initiator::local, {}});
      return;
    }
    st_ = state::closing_remote;
    h_.on_close_frame(cp.code, cp.reason);
    if (st_ != state::closing_remote) return;  // the hook aborted
    // RFC 6455 §5.5.1: "the endpoint MUST send a Close frame in response ... typically
    // echoing the status code it received"; an empty close is echoed empty.
    write_close(cp.code, {});
    finish(close_event{cp.code, std::string(cp.reason), true, initiator::remote, {}});
  }
};

connection::impl* connection::self() noexcept {
  return std::launder(reinterpret_cast<impl*>(storage_));
}
const connection::impl* connection::self() const noexcept {
  return std::launder(reinterpret_cast<const impl*>(storage_));
}

connection::connection(role r, handler& h, config cfg) {
  static_assert(sizeof(impl) <= impl_size && alignof(impl) <= 8,
                "raise connection::impl_size to sizeof(connection::impl)");
  ::new (static_cast<void*>(storage_)) impl(r, h, std::move(cfg));
}
connection::~connection() { self()->~impl(); }

role connection::get_role() const noexcept { return self()->role_; }
state connection::get_state() const noexcept { return self()->st_; }
bool connection::can_send() const noexcept { return self()->can_send(); }
bool connection::can_receive() const noexcept { return self()->can_receive(); }

void connection::open() noexcept {
  if (self()->st_ == state::connecting) self()->st_ = state::open;
}

void connection::receive(const void* data, std::size_t size) {
  self()->receive(static_cast<const std::uint8_t*>(data), size, false);
}
void connection::receive_in_place(void* data, std::size_t size) {
  self()->receive(static_cast<const std::uint8_t*>(data), size, true);
}

void connection::receive_eof() {
  // RFC 6455 §7.1.5: with no close frame received, the close code is 1006.
  self()->end_abnormally(error::eof_without_close, close_code::abnormal);
}
void connection::on_close_timeout() {
  self()->end_abnormally(error::close_timeout, close_code::abnormal);
}
void connection::abort(std::error_code why, close_code reported) {
  self()->end_abnormally(why, reported);
}

std::error_code connection::send(message_kind kind, std::string_view payload) {
  return self()->send(kind, payload);
}
std::error_code connection::ping(std::string_view payload) {
  return self()->control(opcode::ping, payload);
}
std::error_code connection::pong(std::string_view payload) {
  return self()->control(opcode::pong, payload);
}
std::error_code connection::send_extension_control(std::uint8_t op, std::string_view payload) {
  if (op > 0xF || (self()->cfg_.extension_controls & (1u << op)) == 0)
    return error::invalid_argument;
  return self()->control(static_cast<opcode>(op), payload);
}
std::error_code connection::close(close_code code, std::string_view reason) {
  return self()->start_close(validate_app_close(code, reason), code, reason);
}
std::error_code connection::close_endpoint(close_code code, std::string_view reason) {
  return self()->start_close(validate_endpoint_close(code, reason), code, reason);
}

std::error_code connection::close_relay(close_code code, std::string_view reason) {
  return self()->start_close(validate_relay_close(code, reason), code, reason);
}

std::error_code connection::send_external(message_kind kind, std::string_view payload,
                                          std::uint8_t (&header)[max_header_size],
                                          std::size_t& header_size) {
  return self()->send_external(kind, payload, header, header_size);
}

std::pair<char*, std::size_t> connection::receive_window(std::size_t min_size) {
  return self()->receive_window(min_size);
}

void connection::commit_window(std::size_t n) { self()->commit_window(n); }

std::uint64_t connection::frame_payload_size() const noexcept {
  return self()->reading_header_ ? 0 : self()->fh_.length;
}

bool connection::take_delivered(std::string_view payload, std::string& buf) noexcept {
  return self()->take_delivered(payload, buf);
}

void connection::swap_output(std::string& buf) noexcept {
  buf.swap(self()->out_);
  self()->out_.clear();
}
std::size_t connection::output_size() const noexcept { return self()->out_.size(); }

const std::optional<close_event>& connection::result() const noexcept {
  static const std::optional<close_event> none;
  return self()->result_ ? *self()->result_ : none;
}

}  // namespace closewise::proto
