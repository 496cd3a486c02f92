// The three body forms of POST /v1/images, read from the file the server streamed the body to:
//
//   Content-Type: image/*               the body is the image
//   multipart/form-data; boundary=…     part "file" is the image; optional part "metadata" (JSON)
//   application/json                    {"type": "base64"|"url", "data": "…", "metadata": {…}}
//
// The image is handed on as a file: the body file itself for raw bodies, a new temporary file
// holding the part or the decoded base64 otherwise, so no body is held in memory beyond a bound
// (a base64 document is parsed in memory: at most 4/3 of the upload limit plus metadata; prefer
// the other forms for large files). A `type: url` body yields the URL, fetched by the caller
// through the HTTP source. Blocking file I/O: call from an I/O pool thread.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/spilled_file.h"

namespace imgorigin::origin {

struct UploadBody {
  std::shared_ptr<const storage::SpilledFile> image;  // unset for a `type: url` body
  std::string url;                                    // `type: url`
  nlohmann::json metadata = nlohmann::json::object();
};

// kUnsupported for another Content-Type (415), kInvalidArgument for a malformed body, kTooLarge
// for an image part or decoded base64 over `max_image_bytes`.
common::Result<UploadBody> ParseUploadBody(std::shared_ptr<const storage::SpilledFile> body,
                                           std::string_view content_type,
                                           const std::string& temp_dir, int64_t max_image_bytes);

// Whether POST /v1/images takes this Content-Type at all (checked from the head, before the
// body is read).
bool IsUploadContentType(std::string_view content_type);

// A new temporary file in `dir` holding `bytes` (for bodies that arrived in memory).
common::Result<std::shared_ptr<const storage::SpilledFile>> SpillBytes(std::string_view bytes,
                                                                       const std::string& dir);

}  // namespace imgorigin::origin
