#include "closewise/proto/handshake.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <random>

// GCC 12 misreads boost::optional inside Beast's parser as maybe-uninitialized
// once sanitizers change inlining; the header is not ours to fix.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "closewise/error.hpp"
#include "http_syntax.hpp"

namespace closewise::proto {
namespace {

namespace http = boost::beast::http;
using beast_sv = boost::beast::string_view;
using beast_ec = boost::beast::error_code;

// RFC 6455 §1.3: the GUID appended to the key before hashing.
constexpr std::string_view ws_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// base64 of 16 bytes, and of a 20-byte SHA-1 digest.
constexpr std::size_t key_chars = 24;
constexpr std::size_t accept_chars = 28;

std::string_view to_sv(beast_sv s) noexcept { return {s.data(), s.size()}; }

const EVP_MD* sha1() noexcept {
  // Fetched once: OpenSSL 3's implicit fetch per digest costs more than the digest.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md != nullptr ? md : EVP_sha1();
}

/// Writes base64(SHA-1(key + GUID)) into `out`; false if OpenSSL failed.
bool write_accept(std::string_view key, char (&out)[accept_chars + 1]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  char stack[128];
  std::string heap;
  const char* input = stack;
  const std::size_t total = key.size() + ws_guid.size();
  if (total <= sizeof stack) {
    std::memcpy(stack, key.data(), key.size());
    std::memcpy(stack + key.size(), ws_guid.data(), ws_guid.size());
  } else {
    heap.reserve(total);
    heap.append(key).append(ws_guid);
    input = heap.data();
  }
  if (EVP_Digest(input, total, digest, &len, sha1(), nullptr) != 1 || len != 20) return false;
  return EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out), digest, 20) ==
         static_cast<int>(accept_chars);
}

/// Counts the fields named `name` and returns the first one's value.
std::size_t find_field(const http_headers& h, std::string_view name, std::string_view& first) {
  std::size_t n = 0;
  for (const auto& [k, v] : h.fields) {
    if (!detail::iequals(k, name)) continue;
    if (n++ == 0) first = v;
  }
  return n;
}

/// True when any `name` field's comma-separated list holds `token`.
bool any_field_has_token(const http_headers& h, std::string_view name, std::string_view token) {
  for (const auto& [k, v] : h.fields)
    if (detail::iequals(k, name) && detail::list_has_token(v, token)) return true;
  return false;
}

/// All `name` fields joined by ", " (RFC 7230 §3.2.2: same meaning as one list).
std::string join_fields(const http_headers& h, std::string_view name) {
  std::string out;
  for (const auto& [k, v] : h.fields) {
    if (!detail::iequals(k, name)) continue;
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

bool is_managed_field(std::string_view name) {
  constexpr std::string_view managed[] = {"host", "upgrade", "connection", "content-length",
                                          "transfer-encoding"};
  for (auto m : managed)
    if (detail::iequals(name, m)) return true;
  constexpr std::string_view ws = "sec-websocket-";
  return name.size() >= ws.size() && detail::iequals(name.substr(0, ws.size()), ws);
}

/// Boost.Beast's HTTP parser, reporting straight into our containers, so the
/// fields are stored once and a refusal body stays bounded.
template <bool IsRequest>
class sink_parser final : public http::basic_parser<IsRequest> {
 public:
  http_headers* headers = nullptr;
  std::string method;
  std::string target;
  std::string reason;
  int version = 0;
  unsigned status = 0;
  std::string* body = nullptr;  ///< null: a body is not wanted
  std::size_t body_cap = 0;
  bool body_full = false;

 private:
  void on_request_impl(http::verb, beast_sv m, beast_sv t, int v, beast_ec&) override {
    method.assign(m.data(), m.size());
    target.assign(t.data(), t.size());
    version = v;
  }
  void on_response_impl(int code, beast_sv r, int v, beast_ec&) override {
    status = static_cast<unsigned>(code);
    reason.assign(r.data(), r.size());
    version = v;
  }
  void on_field_impl(http::field, beast_sv name, beast_sv value, beast_ec&) override {
    headers->fields.emplace_back(std::piecewise_construct,
                                 std::forward_as_tuple(name.data(), name.size()),
                                 std::forward_as_tuple(value.data(), value.size()));
  }
  void on_header_impl(beast_ec&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast_ec&) override {}
  std::size_t on_body_impl(beast_sv b, beast_ec& ec) override { return take(b, ec); }
  void on_chunk_header_impl(std::uint64_t, beast_sv, beast_ec&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast_sv b, beast_ec& ec) override {
    return take(b, ec);
  }
  void on_finish_impl(beast_ec&) override {}

  std::size_t take(beast_sv b, beast_ec& ec) {
    if (body == nullptr) {
      ec = http::error::unexpected_body;
      return 0;
    }
    const std::size_t n = std::min(b.size(), body_cap - body->size());
    body->append(b.data(), n);
    if (body->size() >= body_cap) {
      // Stop at the bound: the rest is neither kept nor waited for.
      body_full = true;
      ec = http::error::body_limit;
    }
    return n;
  }
};

/// Feeds header bytes to `p`, never showing it more than the header may still
/// take, so the size limit is exact however the bytes are split.
template <class Parser>
std::size_t put_header(Parser& p, std::string_view in, std::size_t& header_used,
                       std::size_t max_header, beast_ec& ec) {
  const std::size_t allowance = max_header - header_used;
  const std::size_t n = std::min(in.size(), allowance);
  const std::size_t used = p.put(boost::asio::const_buffer(in.data(), n), ec);
  header_used += used;
  if (ec == http::error::need_more && n == allowance) ec = http::error::header_limit;
  return used;
}

/// Runs `step(in, used)` over the bytes kept from earlier calls plus `bytes`.
/// While the message is incomplete every byte belongs to it (`consumed` is
/// all of `bytes`) and what the parser has not used yet is kept; once done,
/// `consumed` counts only the bytes of `bytes` that were part of the message.
template <class Step>
bool feed(std::string& kept, std::string_view bytes, std::size_t& consumed, Step&& step) {
  const std::size_t prior = kept.size();
  std::string_view in = bytes;
  if (prior != 0) {
    kept.append(bytes);
    in = kept;
  }
  std::size_t used = 0;
  if (!step(in, used)) {
    if (prior != 0)
      kept.erase(0, used);
    else
      kept.assign(in.substr(used));
    consumed = bytes.size();
    return false;
  }
  consumed = used > prior ? used - prior : 0;
  std::string().swap(kept);
  return true;
}

void set_limits(http::basic_parser<true>& p, const handshake_limits& l) {
  p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(l.max_header_bytes, UINT32_MAX)));
  p.body_limit(boost::none);
  p.eager(false);
}
void set_limits(http::basic_parser<false>& p, const handshake_limits& l) {
  p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(l.max_header_bytes, UINT32_MAX)));
  p.body_limit(boost::none);
  p.eager(false);
}

}  // namespace

// ---------------------------------------------------------------- helpers --

std::optional<std::string_view> http_headers::get(std::string_view name) const noexcept {
  for (const auto& [k, v] : fields)
    if (detail::iequals(k, name)) return std::string_view{v};
  return std::nullopt;
}

std::string compute_accept(std::string_view key) {
  char out[accept_chars + 1];
  if (!write_accept(key, out)) return {};
  return std::string(out, accept_chars);
}

std::string generate_key() {
  unsigned char raw[16];
  // RFC 6455 §4.1: "a randomly selected 16-byte value"; RAND_bytes can only
  // fail when the system has no entropy source, then std::random_device steps in.
  if (RAND_bytes(raw, sizeof raw) != 1) {
    std::random_device rd;
    for (auto& b : raw) b = static_cast<unsigned char>(rd());
  }
  char out[key_chars + 1];
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out), raw, sizeof raw);
  return std::string(out, key_chars);
}

bool is_valid_key(std::string_view key) noexcept {
  // 16 bytes are 22 base64 characters and "==" (RFC 4648 §4); OpenSSL checks
  // the alphabet, the layout check keeps '=' and whitespace out of the middle.
  if (key.size() != key_chars || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i)
    if (key[i] == '=' || key[i] == ' ' || key[i] == '\t') return false;
  unsigned char raw[20];
  return EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(key.data()),
                         static_cast<int>(key.size())) == 18;
}

// ----------------------------------------------------------------- client --

struct client_handshake::impl {
  client_request_options opts;
  handshake_limits limits;
  std::string request;
  char expected_accept[accept_chars + 1] = {};

  sink_parser<false> parser;
  std::string kept;
  std::size_t header_used = 0;
  bool in_body = false;
  bool done = false;
  result outcome = result::need_more;
  std::error_code ec;
  std::optional<handshake_failure> failure;
  std::string subprotocol;
  std::optional<deflate_params> deflate;
  std::vector<std::string> extensions;  ///< answers to opts.extensions
  http_headers headers;

  bool validate_options() const;
  bool split_extensions(std::string& for_deflate);
  void build_request();
  bool step(std::string_view in, std::size_t& used);
  bool on_header(std::string_view in, std::size_t& used);
  bool read_body(std::string_view in, std::size_t& used);
  void check_upgrade();
  bool finish(result r, std::error_code e) {
    outcome = r;
    ec = e;
    done = true;
    return true;
  }
  bool fail_with_status() {
    failure->headers = headers;
    return finish(result::failed, closewise::error::bad_status);
  }
};

bool client_handshake::impl::validate_options() const {
  if (opts.host.empty() || !detail::is_safe_value(opts.host)) return false;
  // The request target is sent verbatim: no spaces or controls may hide in it.
  if (!opts.target.empty()) {
    if (opts.target.front() != '/') return false;
    for (char c : opts.target) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7F) return false;
    }
  }
  if (opts.origin && !detail::is_safe_value(*opts.origin)) return false;
  // RFC 6455 §4.1 item 10: subprotocols are unique tokens.
  for (std::size_t i = 0; i < opts.subprotocols.size(); ++i) {
    if (!detail::is_token(opts.subprotocols[i])) return false;
    for (std::size_t j = 0; j < i; ++j)
      if (opts.subprotocols[j] == opts.subprotocols[i]) return false;
  }
  for (const auto& [k, v] : opts.extra_headers.fields)
    if (!detail::is_token(k) || !detail::is_safe_value(v) || is_managed_field(k)) return false;
  if (!opts.key.empty() && !is_valid_key(opts.key)) return false;
  // RFC 6455 §9.1: each offer is one extension element named by a token.
  for (std::size_t i = 0; i < opts.extensions.size(); ++i) {
    detail::extension e;
    if (!detail::is_safe_value(opts.extensions[i]) ||
        !detail::parse_extension(detail::trim(opts.extensions[i]), e) ||
        detail::iequals(e.name, "permessage-deflate"))
      return false;
    for (std::size_t j = 0; j < i; ++j) {
      detail::extension o;
      detail::parse_extension(detail::trim(opts.extensions[j]), o);
      if (detail::iequals(o.name, e.name)) return false;
    }
  }
  return true;
}

/// Moves the response elements answering opts.extensions into `extensions`
/// and leaves the rest (permessage-deflate's, or an unoffered one) for the
/// deflate check. False when an offered extension is answered twice.
bool client_handshake::impl::split_extensions(std::string& for_deflate) {
  bool ok = true;
  for (const auto& [k, v] : headers.fields) {
    if (!detail::iequals(k, "Sec-WebSocket-Extensions")) continue;
    detail::for_each_element(v, [&](std::string_view element) {
      detail::extension e;
      bool ours = false;
      if (detail::parse_extension(element, e)) {
        for (const auto& offer : opts.extensions) {
          detail::extension o;
          detail::parse_extension(detail::trim(offer), o);
          ours = ours || detail::iequals(o.name, e.name);
        }
      }
      if (!ours) {
        if (!for_deflate.empty()) for_deflate += ", ";
        for_deflate += element;
        return true;
      }
      for (const auto& seen : extensions) {
        detail::extension s;
        detail::parse_extension(seen, s);
        if (detail::iequals(s.name, e.name)) ok = false;
      }
      extensions.emplace_back(element);
      return ok;
    });
  }
  return ok;
}

void client_handshake::impl::build_request() {
  if (opts.key.empty()) opts.key = generate_key();
  if (!write_accept(opts.key, expected_accept)) {
    ec = closewise::error::invalid_argument;
    return;
  }
  std::string offer = format_deflate_offer(opts.deflate);
  for (const auto& e : opts.extensions) {
    if (!offer.empty()) offer += ", ";
    offer += detail::trim(e);
  }
  std::size_t extra = 0;
  for (const auto& [k, v] : opts.extra_headers.fields) extra += k.size() + v.size() + 4;
  for (const auto& p : opts.subprotocols) extra += p.size() + 2;
  request.reserve(200 + opts.target.size() + opts.host.size() + offer.size() + extra +
                  (opts.origin ? opts.origin->size() : 0));
  // RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP
  // version MUST be at least 1.1", with the resource name as the target.
  request += "GET ";
  request += opts.target.empty() ? std::string_view{"/"} : std::string_view{opts.target};
  request += " HTTP/1.1\r\nHost: ";
  request += opts.host;
  request += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  request += opts.key;
  request += "\r\nSec-WebSocket-Version: 13\r\n";
  if (opts.origin) {
    request += "Origin: ";
    request += *opts.origin;
    request += "\r\n";
  }
  if (!opts.subprotocols.empty()) {
    request += "Sec-WebSocket-Protocol: ";
    for (std::size_t i = 0; i < opts.subprotocols.size(); ++i) {
      if (i != 0) request += ", ";
      request += opts.subprotocols[i];
    }
    request += "\r\n";
  }
  if (!offer.empty()) {
    request += "Sec-WebSocket-Extensions: ";
    request += offer;
    request += "\r\n";
  }
  for (const auto& [k, v] : opts.extra_headers.fields) {
    request += k;
    request += ": ";
    request += v;
    request += "\r\n";
  }
  request += "\r\n";
}

bool client_handshake::impl::step(std::string_view in, std::size_t& used) {
  if (in_body) return read_body(in, used);
  beast_ec bec;
  used += put_header(parser, in, header_used, limits.max_header_bytes, bec);
  if (bec == http::error::need_more) return false;
  if (bec == http::error::header_limit)
    return finish(result::failed, closewise::error::header_too_large);
  if (bec) return finish(result::failed, closewise::error::bad_http);
  if (!parser.is_header_done()) return false;
  return on_header(in, used);
}

bool client_handshake::impl::on_header(std::string_view in, std::size_t& used) {
  if (parser.status == 101) {
    check_upgrade();
    return true;
  }
  // RFC 6455 §4.1: "If the status code received from the server is not 101,
  // the client handles the response per HTTP procedures": keep it for the policy.
  failure.emplace();
  failure->status = parser.status;
  failure->reason_phrase = std::move(parser.reason);
  const auto length = parser.content_length();
  // RFC 7230 §3.3.3: without Content-Length or chunking the body runs to EOF;
  // nothing waits for that, so such a body is taken as empty.
  if (parser.is_done() || (!parser.chunked() && !length) || limits.max_body_bytes == 0)
    return fail_with_status();
  failure->body.reserve(std::min<std::uint64_t>(length.value_or(0), limits.max_body_bytes));
  parser.body = &failure->body;
  parser.body_cap = limits.max_body_bytes;
  parser.eager(true);
  in_body = true;
  return read_body(in, used);
}

bool client_handshake::impl::read_body(std::string_view in, std::size_t& used) {
  if (used == in.size()) return false;
  beast_ec bec;
  used += parser.put(boost::asio::const_buffer(in.data() + used, in.size() - used), bec);
  if (parser.is_done() || parser.body_full || (bec && bec != http::error::need_more))
    return fail_with_status();
  // A chunk-size line longer than a whole header is not waited for either.
  if (in.size() - used > limits.max_header_bytes) return fail_with_status();
  return false;
}

void client_handshake::impl::check_upgrade() {
  std::string_view v;
  // RFC 6455 §4.1 (client requirements) lists the checks below, in order.
  if (parser.version < 11) return void(finish(result::failed, closewise::error::bad_http_version));
  // "If the response lacks an |Upgrade| header field or the |Upgrade| header
  // field contains a value that is not an ASCII case-insensitive match for
  // the value "websocket", the client MUST _Fail the WebSocket Connection_."
  if (find_field(headers, "Upgrade", v) != 1 || !detail::iequals(detail::trim(v), "websocket"))
    return void(finish(result::failed, closewise::error::bad_upgrade));
  // "If the response lacks a |Connection| header field or the |Connection|
  // header field doesn't contain a token that is an ASCII case-insensitive
  // match for the value "Upgrade", the client MUST _Fail the WebSocket Connection_."
  if (!any_field_has_token(headers, "Connection", "Upgrade"))
    return void(finish(result::failed, closewise::error::bad_connection));
  // "If the response lacks a |Sec-WebSocket-Accept| header field or the
  // |Sec-WebSocket-Accept| contains a value other than the base64-encoded
  // SHA-1 of the concatenation of the |Sec-WebSocket-Key| ... with the string
  // "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" but ignoring any leading and
  // trailing whitespace, the client MUST _Fail the WebSocket Connection_."
  if (find_field(headers, "Sec-WebSocket-Accept", v) != 1 ||
      detail::trim(v) != std::string_view(expected_accept, accept_chars))
    return void(finish(result::failed, closewise::error::bad_accept));
  // "If the response includes a |Sec-WebSocket-Extensions| header field and
  // this header field indicates the use of an extension that was not present
  // in the client's handshake ..., the client MUST _Fail the WebSocket Connection_."
  if (find_field(headers, "Sec-WebSocket-Extensions", v) != 0) {
    std::string rest;
    if (!split_extensions(rest) || accept_deflate_response(rest, opts.deflate, deflate)) {
      extensions.clear();
      return void(finish(result::failed, closewise::error::bad_extension));
    }
  }
  // "If the response includes a |Sec-WebSocket-Protocol| header field and this
  // header field indicates the use of a subprotocol that was not present in
  // the client's handshake ..., the client MUST _Fail the WebSocket Connection_."
  if (const auto n = find_field(headers, "Sec-WebSocket-Protocol", v); n != 0) {
    const auto chosen = detail::trim(v);
    const bool offered = std::find(opts.subprotocols.begin(), opts.subprotocols.end(), chosen) !=
                         opts.subprotocols.end();
    if (n != 1 || !offered) {
      deflate.reset();
      extensions.clear();
      return void(finish(result::failed, closewise::error::bad_subprotocol));
    }
    subprotocol.assign(chosen);
  }
  finish(result::accepted, {});
}

client_handshake::client_handshake(client_request_options opts, handshake_limits limits)
    : impl_(std::make_unique<impl>()) {
  impl& m = *impl_;
  m.opts = std::move(opts);
  m.limits = limits;
  m.parser.headers = &m.headers;
  set_limits(m.parser, limits);
  if (!m.validate_options())
    m.ec = closewise::error::invalid_argument;
  else
    m.build_request();
  if (m.ec) {
    m.request.clear();
    m.outcome = result::failed;
    m.done = true;
  }
}

client_handshake::~client_handshake() = default;
client_handshake::client_handshake(client_handshake&&) noexcept = default;
client_handshake& client_handshake::operator=(client_handshake&&) noexcept = default;

const std::string& client_handshake::request() const noexcept { return impl_->request; }

client_handshake::result client_handshake::receive(std::string_view bytes, std::size_t& consumed) {
  impl& m = *impl_;
  consumed = 0;
  if (m.done) return m.outcome;
  feed(m.kept, bytes, consumed,
       [&](std::string_view in, std::size_t& used) { return m.step(in, used); });
  return m.done ? m.outcome : result::need_more;
}

std::error_code client_handshake::error() const noexcept { return impl_->ec; }
const std::optional<handshake_failure>& client_handshake::failure() const noexcept {
  return impl_->failure;
}
const std::string& client_handshake::subprotocol() const noexcept { return impl_->subprotocol; }
const std::optional<deflate_params>& client_handshake::deflate() const noexcept {
  return impl_->deflate;
}
const std::vector<std::string>& client_handshake::extensions() const noexcept {
  return impl_->extensions;
}
const http_headers& client_handshake::response_headers() const noexcept { return impl_->headers; }

// ----------------------------------------------------------------- server --

struct server_handshake::impl {
  handshake_limits limits;
  sink_parser<true> parser;
  std::string kept;
  std::size_t header_used = 0;
  bool done = false;
  result outcome = result::need_more;
  std::error_code ec;
  const char* why = "";  ///< the one-line reason sent with a 400
  upgrade_request req;
  std::optional<deflate_params> deflate;

  bool step(std::string_view in, std::size_t& used);
  bool check();
  bool reject(closewise::error e, const char* reason) {
    ec = e;
    why = reason;
    outcome = result::invalid;
    done = true;
    return true;
  }
};

bool server_handshake::impl::step(std::string_view in, std::size_t& used) {
  beast_ec bec;
  used += put_header(parser, in, header_used, limits.max_header_bytes, bec);
  if (bec == http::error::need_more) return false;
  if (bec == http::error::header_limit)
    return reject(closewise::error::header_too_large, "request headers too large\n");
  if (bec == http::error::bad_version)
    return reject(closewise::error::bad_http_version, "HTTP/1.1 or later required\n");
  if (bec) return reject(closewise::error::bad_http, "malformed HTTP request\n");
  if (!parser.is_header_done()) return false;
  return check();
}

bool server_handshake::impl::check() {
  req.method = std::move(parser.method);
  req.target = std::move(parser.target);
  req.version = static_cast<unsigned>(parser.version);
  const http_headers& h = req.headers;
  std::string_view v;
  // RFC 6455 §4.2.1 lists what the server checks, in this order.
  // 1. "An HTTP/1.1 or higher GET request, including a "Request-URI"".
  if (req.method != "GET") return reject(closewise::error::bad_method, "method must be GET\n");
  if (req.version < 11)
    return reject(closewise::error::bad_http_version, "HTTP/1.1 or later required\n");
  // An upgrade request has no body; bytes after the header are frames.
  if (!parser.is_done()) return reject(closewise::error::bad_http, "request body not allowed\n");
  // 2. "A |Host| header field containing the server's authority."
  const auto hosts = find_field(h, "Host", v);
  if (hosts == 0 || detail::trim(v).empty())
    return reject(closewise::error::no_host, "missing Host\n");
  if (hosts != 1) return reject(closewise::error::bad_http, "more than one Host\n");
  // 3. "An |Upgrade| header field containing the value "websocket", treated
  // as an ASCII case-insensitive value."
  if (!any_field_has_token(h, "Upgrade", "websocket"))
    return reject(closewise::error::bad_upgrade, "Upgrade must include websocket\n");
  // 4. "A |Connection| header field that includes the token "Upgrade",
  // treated as an ASCII case-insensitive value."
  if (!any_field_has_token(h, "Connection", "Upgrade"))
    return reject(closewise::error::bad_connection, "Connection must include Upgrade\n");
  // 5. "A |Sec-WebSocket-Key| header field with a base64-encoded value that,
  // when decoded, is 16 bytes in length."
  const auto keys = find_field(h, "Sec-WebSocket-Key", v);
  if (keys == 0) return reject(closewise::error::bad_key, "missing Sec-WebSocket-Key\n");
  if (keys != 1) return reject(closewise::error::bad_key, "more than one Sec-WebSocket-Key\n");
  if (!is_valid_key(v)) return reject(closewise::error::bad_key, "invalid Sec-WebSocket-Key\n");
  // 6. "A |Sec-WebSocket-Version| header field, with a value of 13."
  // §4.4: otherwise the answer is 426 with the versions we speak.
  if (find_field(h, "Sec-WebSocket-Version", v) != 1 || detail::trim(v) != "13")
    return reject(closewise::error::bad_version, "unsupported Sec-WebSocket-Version (want 13)\n");
  // 8. and 9. are optional: subprotocols in preference order, extensions raw.
  for (const auto& [k, val] : h.fields) {
    if (!detail::iequals(k, "Sec-WebSocket-Protocol")) continue;
    detail::for_each_element(val, [&](std::string_view p) {
      req.subprotocols.emplace_back(p);
      return true;
    });
  }
  req.extensions = join_fields(h, "Sec-WebSocket-Extensions");
  outcome = result::valid;
  done = true;
  return true;
}

server_handshake::server_handshake(handshake_limits limits) : impl_(std::make_unique<impl>()) {
  impl_->limits = limits;
  impl_->parser.headers = &impl_->req.headers;
  impl_->req.headers.fields.reserve(16);
  set_limits(impl_->parser, limits);
}

server_handshake::~server_handshake() = default;
server_handshake::server_handshake(server_handshake&&) noexcept = default;
server_handshake& server_handshake::operator=(server_handshake&&) noexcept = default;

server_handshake::result server_handshake::receive(std::string_view bytes, std::size_t& consumed) {
  impl& m = *impl_;
  consumed = 0;
  if (m.done) return m.outcome;
  feed(m.kept, bytes, consumed,
       [&](std::string_view in, std::size_t& used) { return m.step(in, used); });
  return m.done ? m.outcome : result::need_more;
}

std::error_code server_handshake::error() const noexcept { return impl_->ec; }
const upgrade_request& server_handshake::request() const noexcept { return impl_->req; }

std::string server_handshake::error_response() const {
  const impl& m = *impl_;
  if (m.outcome != result::invalid) return {};
  if (m.ec == closewise::error::header_too_large) return refuse(431, {}, m.why);
  if (m.ec == closewise::error::bad_version) {
    // RFC 6455 §4.4: "send back an appropriate HTTP error code (such as 426
    // Upgrade Required) and a |Sec-WebSocket-Version| header field indicating
    // the version(s) the server is capable of understanding."
    http_headers h;
    h.fields = {{"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"}};
    return refuse(426, h, m.why);
  }
  return refuse(400, {}, m.why);
}

std::string server_handshake::accept(std::string_view subprotocol, const deflate_options& deflate,
                                     std::string_view extensions) {
  impl& m = *impl_;
  if (m.outcome != result::valid) return {};
  std::string_view key;
  find_field(m.req.headers, "Sec-WebSocket-Key", key);
  char accept_value[accept_chars + 1];
  if (!write_accept(key, accept_value)) return {};
  std::string ext_response;
  m.deflate.reset();
  if (deflate.enabled && !m.req.extensions.empty())
    m.deflate = negotiate_deflate(m.req.extensions, deflate, ext_response);
  extensions = detail::trim(extensions);
  if (!extensions.empty() && detail::is_safe_value(extensions)) {
    if (!ext_response.empty()) ext_response += ", ";
    ext_response += extensions;
  }
  // RFC 6455 §4.2.2 item 5.3: the server picks one of the client's subprotocols or none.
  const bool send_protocol =
      !subprotocol.empty() && std::find(m.req.subprotocols.begin(), m.req.subprotocols.end(),
                                        subprotocol) != m.req.subprotocols.end();
  std::string out;
  out.reserve(160 + subprotocol.size() + ext_response.size());
  // RFC 6455 §4.2.2 item 5: the status line, Upgrade, Connection and
  // Sec-WebSocket-Accept fields of the 101 answer.
  out +=
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  out.append(accept_value, accept_chars);
  out += "\r\n";
  if (send_protocol) {
    out += "Sec-WebSocket-Protocol: ";
    out += subprotocol;
    out += "\r\n";
  }
  if (!ext_response.empty()) {
    out += "Sec-WebSocket-Extensions: ";
    out += ext_response;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

const std::optional<deflate_params>& server_handshake::deflate() const noexcept {
  return impl_->deflate;
}

std::string server_handshake::refuse(unsigned status, const http_headers& headers,
                                     std::string_view body) {
  if (status < 200 || status > 599) status = 500;
  std::string_view phrase = to_sv(http::obsolete_reason(http::int_to_status(status)));
  if (phrase.empty() || phrase.front() == '<') phrase = "Error";
  std::string out;
  out.reserve(128 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += phrase;
  out += "\r\n";
  bool has_type = false, has_upgrade = false;
  for (const auto& [k, v] : headers.fields) {
    if (!detail::is_token(k) || !detail::is_safe_value(v)) continue;
    if (detail::iequals(k, "Content-Length") || detail::iequals(k, "Connection") ||
        detail::iequals(k, "Transfer-Encoding"))
      continue;
    has_type = has_type || detail::iequals(k, "Content-Type");
    has_upgrade = has_upgrade || detail::iequals(k, "Upgrade");
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  if (!body.empty() && !has_type) out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Length: ";
  out += std::to_string(body.size());
  // RFC 7230 §6.7: a sender of Upgrade also lists "upgrade" in Connection.
  out += has_upgrade ? "\r\nConnection: Upgrade, close\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace closewise::proto
