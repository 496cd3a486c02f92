#include "origin/upload_body.h"

#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <utility>

#include "common/fd.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// "type/subtype; name=value; …": the media type, lowercase, without parameters.
std::string MediaType(std::string_view content_type) {
  std::string type(Trim(content_type.substr(0, content_type.find(';'))));
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return type;
}

// The value of parameter `name` in a header value such as Content-Type or Content-Disposition
// (quotes removed); "" when absent.
std::string Parameter(std::string_view value, std::string_view name) {
  size_t at = value.find(';');
  while (at != std::string_view::npos) {
    value.remove_prefix(at + 1);
    const size_t next = value.find(';');
    std::string_view item = Trim(value.substr(0, next));
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos && EqualsNoCase(Trim(item.substr(0, eq)), name)) {
      std::string_view v = Trim(item.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return std::string(v);
    }
    at = next;
  }
  return "";
}

class TempFile {
 public:
  static Result<TempFile> Create(const std::string& dir) {
    std::string path = dir + "/imgorigin-image-XXXXXX";
    common::UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
    if (!fd.valid()) return Fail(ErrorCode::kUnavailable, "uploads cannot be taken now");
    return TempFile(std::move(path), std::move(fd));
  }
  TempFile(TempFile&& other) noexcept
      : path_(std::exchange(other.path_, "")), fd_(std::move(other.fd_)), size_(other.size_) {}
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  Result<void> Write(std::string_view bytes) {
    if (!common::WriteAll(fd_.get(), bytes)) {
      return Fail(ErrorCode::kUnavailable, "the upload could not be spooled");
    }
    size_ += static_cast<int64_t>(bytes.size());
    return {};
  }
  int64_t size() const { return size_; }
  // The file, removed when the last reference goes.
  std::shared_ptr<const storage::SpilledFile> Finish() {
    return std::make_shared<const storage::SpilledFile>(std::exchange(path_, ""), size_);
  }

 private:
  TempFile(std::string path, common::UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  common::UniqueFd fd_;
  int64_t size_ = 0;
};

common::Error ImageTooLarge(int64_t max) {
  return {ErrorCode::kTooLarge,
          "the image is over the upload limit of " + std::to_string(max) + " bytes"};
}

// Standard or URL-safe base64, padded or not, whitespace ignored; streamed into `out`.
Result<void> DecodeBase64(std::string_view text, TempFile& out, int64_t max) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> v{};
    v.fill(-1);
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < alphabet.size(); ++i) v[static_cast<uint8_t>(alphabet[i])] = int8_t(i);
    v['-'] = 62;
    v['_'] = 63;
    return v;
  }();
  std::string block;
  block.reserve(1 << 16);
  uint32_t bits = 0;
  int count = 0;
  bool padding = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (padding || kValue[c] < 0) {
      return Fail(ErrorCode::kInvalidArgument, "data is not valid base64");
    }
    bits = (bits << 6) | static_cast<uint32_t>(kValue[c]);
    if (++count == 4) {
      block += static_cast<char>(bits >> 16);
      block += static_cast<char>(bits >> 8);
      block += static_cast<char>(bits);
      bits = 0;
      count = 0;
    }
    if (block.size() >= (1 << 16)) {
      if (out.size() + static_cast<int64_t>(block.size()) > max) {
        return std::unexpected(ImageTooLarge(max));
      }
      if (auto written = out.Write(block); !written) return written;
      block.clear();
    }
  }
  if (count == 1) return Fail(ErrorCode::kInvalidArgument, "data is not valid base64");
  if (count == 2) block += static_cast<char>(bits >> 4);
  if (count == 3) {
    block += static_cast<char>(bits >> 10);
    block += static_cast<char>(bits >> 2);
  }
  if (out.size() + static_cast<int64_t>(block.size()) > max) {
    return std::unexpected(ImageTooLarge(max));
  }
  return out.Write(block);
}

Result<nlohmann::json> ParseMetadataJson(std::string_view text) {
  auto metadata = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (metadata.is_discarded() || !metadata.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "metadata must be a JSON object");
  }
  return metadata;
}

Result<UploadBody> ParseJson(std::string_view text, const std::string& temp_dir, int64_t max) {
  const auto document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto usage = [] {
    return Fail(ErrorCode::kInvalidArgument,
                "expected JSON {\"type\": \"base64\" or \"url\", \"data\": \"…\", "
                "\"metadata\": {…}}");
  };
  if (document.is_discarded() || !document.is_object()) return usage();
  const auto type = document.find("type");
  const auto data = document.find("data");
  if (type == document.end() || !type->is_string() || data == document.end() ||
      !data->is_string() || data->get_ref<const std::string&>().empty()) {
    return usage();
  }
  UploadBody body;
  if (const auto metadata = document.find("metadata"); metadata != document.end()) {
    if (!metadata->is_object()) {
      return Fail(ErrorCode::kInvalidArgument, "metadata must be a JSON object");
    }
    body.metadata = *metadata;
  }
  const std::string& kind = type->get_ref<const std::string&>();
  std::string_view payload = data->get_ref<const std::string&>();
  if (kind == "url") {
    body.url = payload;
    return body;
  }
  if (kind != "base64") return usage();
  // A data URI ("data:image/png;base64,…") is taken as its base64 part.
  if (payload.starts_with("data:")) {
    const size_t comma = payload.find(',');
    if (comma == std::string_view::npos ||
        payload.substr(0, comma).find(";base64") == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument, "a data: URI must be base64-encoded");
    }
    payload.remove_prefix(comma + 1);
  }
  auto file = TempFile::Create(temp_dir);
  if (!file) return std::unexpected(file.error());
  if (auto decoded = DecodeBase64(payload, *file, max); !decoded) {
    return std::unexpected(decoded.error());
  }
  body.image = file->Finish();
  return body;
}

// RFC 7578 multipart/form-data over the whole body.
Result<UploadBody> ParseMultipart(std::string_view text, std::string_view content_type,
                                  const std::string& temp_dir, int64_t max) {
  const std::string boundary = Parameter(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 70) {
    return Fail(ErrorCode::kInvalidArgument, "multipart/form-data needs a boundary parameter");
  }
  const auto malformed = [] {
    return Fail(ErrorCode::kInvalidArgument, "malformed multipart/form-data body");
  };
  const std::string delimiter = "\r\n--" + boundary;
  const std::boyer_moore_horspool_searcher searcher(delimiter.begin(), delimiter.end());
  // The first delimiter may start the body, without the CRLF before it.
  size_t at;
  if (text.starts_with(std::string_view(delimiter).substr(2))) {
    at = delimiter.size() - 2;
  } else {
    const auto found = std::search(text.begin(), text.end(), searcher);
    if (found == text.end()) return malformed();
    at = static_cast<size_t>(found - text.begin()) + delimiter.size();
  }
  UploadBody body;
  bool have_image = false;
  for (;;) {
    std::string_view rest = text.substr(at);
    if (rest.starts_with("--")) break;  // the close delimiter
    // Transport padding, then the CRLF that ends the delimiter line.
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    if (!rest.starts_with("\r\n")) return malformed();
    rest.remove_prefix(2);
    const size_t head_end = rest.find("\r\n\r\n");
    if (head_end == std::string_view::npos || head_end > 16 * 1024) return malformed();
    std::string_view head = rest.substr(0, head_end + 2);
    std::string name;
    while (!head.empty()) {
      const size_t eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos &&
          EqualsNoCase(Trim(line.substr(0, colon)), "Content-Disposition")) {
        name = Parameter(line.substr(colon + 1), "name");
      }
    }
    const std::string_view content_and_rest = rest.substr(head_end + 4);
    const auto end = std::search(content_and_rest.begin(), content_and_rest.end(), searcher);
    if (end == content_and_rest.end()) return malformed();
    const std::string_view content =
        content_and_rest.substr(0, static_cast<size_t>(end - content_and_rest.begin()));
    if (name == "file") {
      if (have_image) return Fail(ErrorCode::kInvalidArgument, "more than one part named file");
      if (static_cast<int64_t>(content.size()) > max) return std::unexpected(ImageTooLarge(max));
      auto file = TempFile::Create(temp_dir);
      if (!file) return std::unexpected(file.error());
      if (auto written = file->Write(content); !written) return std::unexpected(written.error());
      body.image = file->Finish();
      have_image = true;
    } else if (name == "metadata") {
      auto metadata = ParseMetadataJson(content);
      if (!metadata) return std::unexpected(metadata.error());
      body.metadata = *std::move(metadata);
    }
    at = static_cast<size_t>(content.data() + content.size() - text.data()) + delimiter.size();
  }
  if (!have_image) {
    return Fail(ErrorCode::kInvalidArgument,
                "multipart/form-data upload without a part named file");
  }
  return body;
}

}  // namespace

bool IsUploadContentType(std::string_view content_type) {
  const std::string type = MediaType(content_type);
  return type.starts_with("image/") || type == "multipart/form-data" || type == "application/json";
}

Result<std::shared_ptr<const storage::SpilledFile>> SpillBytes(std::string_view bytes,
                                                               const std::string& dir) {
  auto file = TempFile::Create(dir);
  if (!file) return std::unexpected(file.error());
  if (auto written = file->Write(bytes); !written) return std::unexpected(written.error());
  return file->Finish();
}

Result<UploadBody> ParseUploadBody(std::shared_ptr<const storage::SpilledFile> body,
                                   std::string_view content_type, const std::string& temp_dir,
                                   int64_t max_image_bytes) {
  const std::string type = MediaType(content_type);
  if (type.starts_with("image/")) {
    UploadBody upload;
    upload.image = std::move(body);
    return upload;
  }
  if (type != "multipart/form-data" && type != "application/json") {
    return Fail(ErrorCode::kUnsupported,
                "send the image as image/*, multipart/form-data or application/json");
  }
  const common::MappedFile file(body->path());
  if (!file.ok()) return Fail(ErrorCode::kInternal, "the upload could not be read back");
  if (type == "application/json") return ParseJson(file.bytes(), temp_dir, max_image_bytes);
  return ParseMultipart(file.bytes(), content_type, temp_dir, max_image_bytes);
}

}  // namespace imgorigin::origin
