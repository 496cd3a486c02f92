#include "origin/request_head.h"

#include <strings.h>

#include <algorithm>
#include <cstring>

namespace imgorigin::origin {
namespace {

// RFC 9110 §5.5 field-vchar or a space or tab inside a value; obs-text (0x80–0xff) included.
bool IsValueChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool Is(const char* name, const char* expected) { return strcasecmp(name, expected) == 0; }

}  // namespace

bool IsToken(std::string_view name) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](unsigned char c) {
    return isalnum(c) || kSymbols.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

const char* RequestHead::Find(const char* name) const {
  for (const auto& [key, value] : headers) {
    if (Is(key, name)) return value;
  }
  return nullptr;
}

size_t ReadRequestHead(std::string_view input, size_t max_size, RequestHead& head) {
  const size_t end = input.substr(0, max_size).find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  const size_t size = end + 4;
  head.bytes.assign(input.data(), size);
  head.headers.clear();
  char* at = head.bytes.data();
  char* const last = at + end + 2;  // the empty line's CRLF

  if (head.bytes.starts_with("GET ")) {
    head.method = EVHTTP_REQ_GET;
    at += 4;
  } else if (head.bytes.starts_with("HEAD ")) {
    head.method = EVHTTP_REQ_HEAD;
    at += 5;
  } else {
    return 0;
  }
  if (*at != '/') return 0;
  head.target = at;
  while (*at > 0x20 && *at < 0x7f) ++at;
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  if (std::string_view(at, last + 2 - at).substr(0, kVersion.size()) != kVersion) return 0;
  *at = '\0';
  at += kVersion.size();

  int hosts = 0;
  while (at < last) {
    char* name = at;
    at = static_cast<char*>(memchr(at, ':', last - at));
    // No colon, or a name that is not a token (a folded line starts with a space).
    if (at == nullptr || !IsToken(std::string_view(name, at - name))) return 0;
    *at++ = '\0';
    while (*at == ' ' || *at == '\t') ++at;
    char* value = at;
    while (IsValueChar(static_cast<unsigned char>(*at))) ++at;
    if (at[0] != '\r' || at[1] != '\n') return 0;  // a control character or a bare LF
    char* value_end = at;
    while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
    *value_end = '\0';
    at += 2;
    if (Is(name, "Content-Length") || Is(name, "Transfer-Encoding") || Is(name, "Expect") ||
        Is(name, "Upgrade") || (Is(name, "Connection") && !Is(value, "keep-alive")) ||
        (Is(name, "Host") && ++hosts > 1)) {
      return 0;
    }
    head.headers.emplace_back(name, value);
  }
  return size;
}

}  // namespace imgorigin::origin
