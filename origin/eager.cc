#include "origin/eager.h"

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "common/fd.h"
#include "origin/presets.h"
#include "storage/digest.h"
#include "transforms/inspect.h"
#include "transforms/format.h"
#include "transforms/render_many.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

// Room for the pools' queues on top of the network timeouts a wait covers.
constexpr std::chrono::milliseconds kQueueSlack{10'000};

// Starts an operation that answers through a callback exactly once, and waits up to `bound` for
// the answer; nullopt when it did not come in time (the callback may still run later: the
// promise it fills is shared).
template <typename T>
std::optional<T> Await(const std::function<void(std::function<void(T)>)>& start,
                       std::chrono::milliseconds bound) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  start([promise](T value) { promise->set_value(std::move(value)); });
  if (future.wait_for(bound) != std::future_status::ready) return std::nullopt;
  return future.get();
}

// The image id: the last segment of its source URL.
Result<std::string> ImageId(std::string_view source_url) {
  const std::string id(source_url.substr(source_url.rfind('/') + 1));
  if (!ingest::ValidateId(id)) {
    return Fail(ErrorCode::kInvalidArgument,
                "eager presets: \"" + std::string(source_url) + "\" is not an image's source URL");
  }
  return id;
}

}  // namespace

Result<std::vector<EagerRenderer::Job>> EagerRenderer::PlanJobs(
    std::string_view source_url, const std::vector<std::string>& presets) const {
  // "" stands for a request without Accept; the rest for browsers that accept each format.
  std::vector<std::string> accepts = {""};
  for (const auto format : config_.ingest.eager_formats) {
    accepts.emplace_back(transforms::FormatMimeType(format));
  }
  std::vector<Job> jobs;
  for (const auto& preset : presets) {
    const std::string path = SignedPresetPath(signer_, preset, source_url);
    for (const auto& accept : accepts) {
      auto plan = planner_.Make(
          [&accept](const char* name) -> const char* {
            return std::string_view(name) == "Accept" && !accept.empty() ? accept.c_str() : nullptr;
          },
          path);
      if (!plan) {
        return Fail(plan.error().code, "preset " + preset + ": " + plan.error().message);
      }
      jobs.push_back({preset, path, *std::move(plan)});
    }
  }
  return jobs;
}

Result<sources::SourceImage> EagerRenderer::Fetch(const std::string& source_url) const {
  const auto& fetch = config_.fetch;
  const auto bound = (fetch.connect_timeout + fetch.timeout) * (fetch.retries + 1) + kQueueSlack;
  using Fetched = Result<sources::SourceImage>;
  auto fetched = Await<Fetched>(
      [&](std::function<void(Fetched)> done) {
        sources_.Fetch(source_url, "", [done](const Fetched& image) { done(image); });
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(bound));
  if (!fetched) return Fail(ErrorCode::kDeadlineExceeded, "the original did not arrive in time");
  return *std::move(fetched);
}

Result<uint64_t> EagerRenderer::Generation(const std::string& source_url) const {
  if (auto known = tiers_.CachedGeneration(source_url)) return *known;
  auto generation = Await<uint64_t>(
      [&](std::function<void(uint64_t)> done) { tiers_.FetchGeneration(source_url, done); },
      config_.shared_timeout * 4 + kQueueSlack);
  if (!generation) {
    return Fail(ErrorCode::kUnavailable, "the shared cache tier did not answer in time");
  }
  return *generation;
}

Result<std::vector<ingest::Variant>> EagerRenderer::Render(
    std::string_view source_url, const std::vector<std::string>& presets) const {
  auto id = ImageId(source_url);
  if (!id) return std::unexpected(id.error());
  auto rendered = Render(*id, source_url, presets, /*inspect=*/false);
  if (!rendered) return std::unexpected(rendered.error());
  return std::move(rendered->variants);
}

Result<EagerRenderer::Rendered> EagerRenderer::Render(std::string_view id,
                                                      std::string_view source_url,
                                                      const std::vector<std::string>& presets,
                                                      bool inspect) const {
  if (auto valid = ingest::ValidateId(id); !valid) return std::unexpected(valid.error());
  auto jobs = PlanJobs(source_url, presets);
  if (!jobs) return std::unexpected(jobs.error());
  auto generation = Generation(std::string(source_url));
  if (!generation) return std::unexpected(generation.error());
  // Formats a preset already has, or Accept values that negotiate the same one, share a key.
  std::set<std::string> keys;
  std::erase_if(*jobs, [&](Job& job) {
    planner_.SetKey(job.plan, *generation);
    return !keys.insert(job.plan.key).second;
  });

  auto source = Fetch(std::string(source_url));
  if (!source) return std::unexpected(source.error());
  // A large original was streamed to a file: mapped, not read into memory.
  std::optional<common::MappedFile> mapped;
  std::string_view bytes;
  if (source->file) {
    mapped.emplace(source->file->path());
    if (!mapped->ok()) return Fail(ErrorCode::kInternal, "the fetched original cannot be read");
    bytes = mapped->bytes();
  } else if (source->bytes) {
    bytes = *source->bytes;
  }
  Rendered rendered;
  if (inspect) {
    auto info = transforms::Inspect(bytes, config_.pipeline);
    if (!info) return std::unexpected(info.error());
    rendered.facts = ingest::ImageFacts{std::string(transforms::FormatExtension(info->format)),
                                        info->width, info->height,
                                        static_cast<int64_t>(bytes.size()),
                                        storage::Sha256Hex(bytes)};
  }
  std::vector<transforms::TransformSpec> specs;
  for (const auto& job : *jobs) specs.push_back(job.plan.request.spec);
  auto outputs = transforms::RenderMany(bytes, specs, config_.pipeline);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].image) {
      const auto& error = outputs[i].image.error();
      return Fail(error.code, "preset " + (*jobs)[i].preset + ": " + error.message);
    }
  }

  std::vector<ingest::Variant>& variants = rendered.variants;
  std::set<std::pair<std::string, std::string>> listed;  // preset, format
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Job& job = (*jobs)[i];
    transforms::EncodedImage& encoded = *outputs[i].image;
    auto image = std::make_shared<cache::CachedImage>();
    image->content_type = transforms::FormatMimeType(encoded.format);
    image->etag = job.plan.etag;
    image->last_modified = source->last_modified;
    image->width = encoded.width;
    image->height = encoded.height;
    image->body = common::MakeShared(std::move(encoded.bytes));
    tiers_.Store(job.plan.key, image);

    // An Accept-negotiated format may fall back to the no-Accept one (a result too large for
    // AVIF): its entry is stored under its own key, its object and record entry are the same.
    const std::string format(transforms::FormatExtension(encoded.format));
    if (!listed.emplace(job.preset, format).second) continue;
    ingest::Variant variant{job.preset,
                            format,
                            encoded.width,
                            encoded.height,
                            static_cast<int64_t>(image->body->size()),
                            job.path};
    if (variants_ != nullptr) {
      auto location =
          variants_->Put(id, job.preset, variant.format, *image->body, image->content_type);
      if (!location) return std::unexpected(location.error());
      variant.location = *std::move(location);
    }
    variants.push_back(std::move(variant));
  }
  return rendered;
}

}  // namespace imgorigin::origin
