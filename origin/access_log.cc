#include "origin/access_log.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "origin/metrics.h"

namespace imgorigin::origin {
namespace {

constexpr std::string_view kMasked[] = {"s", "signature"};

// A uniform draw in [0, 1) from a per-thread xorshift: sampling costs no lock and no syscall.
double Draw() {
  thread_local uint64_t state =
      0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(&state) ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<double>(state >> 11) * 0x1.0p-53;
}

void AppendNumber(std::string& out, double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 1);
  out.append(buf, ec == std::errc() ? end : buf);
}

void AppendInt(std::string& out, int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

// The time as the format wants it, the seconds part cached per thread.
void AppendTime(std::string& out, int64_t unix_ms, bool iso) {
  thread_local int64_t cached_second = -1;
  thread_local bool cached_iso = false;
  thread_local char cached[40];
  const int64_t second = unix_ms / 1000;
  if (second != cached_second || iso != cached_iso) {
    const time_t t = static_cast<time_t>(second);
    tm utc{};
    gmtime_r(&t, &utc);
    strftime(cached, sizeof cached, iso ? "%Y-%m-%dT%H:%M:%S" : "%d/%b/%Y:%H:%M:%S", &utc);
    cached_second = second;
    cached_iso = iso;
  }
  out.append(cached);
  if (iso) {
    char ms[8];
    snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(unix_ms % 1000));
    out.append(ms);
  } else {
    out.append(" +0000");
  }
}

// The query with masked parameters' values replaced by "-".
void AppendQuery(std::string& out, std::string_view query) {
  bool first = true;
  while (!query.empty() || first) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (!first) out += '&';
    first = false;
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    bool masked = false;
    for (auto m : kMasked) masked = masked || (eq != std::string_view::npos && name == m);
    if (masked) {
      out.append(name).append("=-");
    } else {
      out.append(pair);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

// A JSON string (escaped) or a combined-format quoted field ("-" for empty).
void AppendQuoted(std::string& out, std::string_view value, bool json) {
  out += '"';
  if (json) {
    common::AppendJsonEscaped(out, value);
  } else if (value.empty()) {
    out += '-';
  } else {
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\' || u < 0x20 || u == 0x7f) {
        char buf[5];
        snprintf(buf, sizeof buf, "\\x%02x", u);
        out.append(buf);
      } else {
        out += c;
      }
    }
  }
  out += '"';
}

void AppendMs(std::string& out, double ms, bool json) {
  if (ms < 0) {
    out.append(json ? "null" : "-");
  } else {
    AppendNumber(out, ms);
  }
}

}  // namespace

void AppendLoggedPath(std::string& out, std::string_view target, uint8_t route) {
  const size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  // /{signature}/… and /info/{signature}/…: the signature segment is left out.
  std::string_view kept_prefix;
  if (route == static_cast<uint8_t>(Route::kInfo) && path.starts_with("/info/")) {
    kept_prefix = "/info";
    path.remove_prefix(5);
  }
  if ((route == static_cast<uint8_t>(Route::kImage) ||
       route == static_cast<uint8_t>(Route::kInfo)) &&
      path.size() > 1) {
    const size_t end = path.find('/', 1);
    path = end == std::string_view::npos ? std::string_view("/") : path.substr(end);
  }
  out.append(kept_prefix).append(path);
  if (question != std::string_view::npos) {
    out += '?';
    AppendQuery(out, target.substr(question + 1));
  }
}

std::string_view AccessLog::Format(const Exchange& exchange, const ReplyFacts& reply,
                                   int64_t unix_ms) {
  thread_local std::string line;
  line.clear();
  const bool json = config_.mode == AccessLogConfig::Mode::kJson;
  thread_local std::string path;
  path.clear();
  AppendLoggedPath(path, exchange.target(), exchange.route());
  if (json) {
    line.append("{\"time\":\"");
    AppendTime(line, unix_ms, true);
    line.append("\",\"request_id\":");
    AppendQuoted(line, exchange.request_id(), true);
    line.append(",\"method\":\"").append(exchange.method()).append("\",\"path\":");
    AppendQuoted(line, path, true);
    line.append(",\"status\":");
    AppendInt(line, reply.status);
    line.append(",\"bytes\":");
    AppendInt(line, static_cast<int64_t>(reply.bytes));
    line.append(",\"content_type\":");
    AppendQuoted(line, reply.content_type, true);
    line.append(",\"x_cache\":");
    AppendQuoted(line, exchange.x_cache(), true);
    line.append(",\"fetch_ms\":");
    AppendMs(line, exchange.fetch_ms(), true);
    line.append(",\"transform_ms\":");
    AppendMs(line, exchange.transform_ms(), true);
    line.append(",\"total_ms\":");
    AppendMs(line, exchange.elapsed_ms(), true);
    line.append(",\"client\":");
    AppendQuoted(line, exchange.client_address(), true);
    line.append("}\n");
    return line;
  }
  const std::string_view client = exchange.client_address();
  line.append(client.empty() ? "-" : client).append(" - - [");
  AppendTime(line, unix_ms, false);
  line.append("] \"").append(exchange.method()).append(" ");
  // The request line is quoted: a path's quotes and control bytes are escaped as any field's.
  std::string_view quoted_path = path;
  thread_local std::string field;
  field.clear();
  AppendQuoted(field, quoted_path, false);
  line.append(std::string_view(field).substr(1, field.size() - 2)).append(" HTTP/1.1\" ");
  AppendInt(line, reply.status);
  line += ' ';
  AppendInt(line, static_cast<int64_t>(reply.bytes));
  line += ' ';
  const char* referer = exchange.header("Referer");
  AppendQuoted(line, referer != nullptr ? referer : "", false);
  line += ' ';
  const char* agent = exchange.header("User-Agent");
  AppendQuoted(line, agent != nullptr ? agent : "", false);
  line.append(" request_id=");
  AppendQuoted(line, exchange.request_id(), false);
  line.append(" content_type=");
  AppendQuoted(line, reply.content_type, false);
  line.append(" x_cache=");
  AppendQuoted(line, exchange.x_cache(), false);
  line.append(" fetch_ms=");
  AppendMs(line, exchange.fetch_ms(), false);
  line.append(" transform_ms=");
  AppendMs(line, exchange.transform_ms(), false);
  line.append(" total_ms=");
  AppendMs(line, exchange.elapsed_ms(), false);
  line += '\n';
  return line;
}

void AccessLog::Record(const Exchange& exchange, const ReplyFacts& reply) {
  if (config_.mode == AccessLogConfig::Mode::kOff) return;
  if (config_.sample < 1.0 && Draw() >= config_.sample) return;
  const int64_t unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  writer_.Write(Format(exchange, reply, unix_ms));
}

}  // namespace imgorigin::origin
