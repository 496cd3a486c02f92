#include "ingest/batch.h"

#include <fnmatch.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

#include "storage/digest.h"
#include "transforms/format.h"
#include "transforms/parser.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using transforms::ImageFormat;
using transforms::Pyramid;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Batch outputs may be far larger than a URL's: the pipeline's limits decide.
constexpr int kBatchMaxDimension = 1 << 18;

constexpr std::pair<Pyramid, std::string_view> kPyramids[] = {
    {Pyramid::kNone, "none"}, {Pyramid::kTiff, "tiff"}, {Pyramid::kDeepZoom, "dz"}};
constexpr std::pair<BatchMode, std::string_view> kModes[] = {
    {BatchMode::kKeep, "keep"}, {BatchMode::kResume, "resume"}, {BatchMode::kOverwrite, "overwrite"}};

template <typename E, size_t N>
std::string_view NameOf(const std::pair<E, std::string_view> (&table)[N], E value) {
  for (const auto& [each, name] : table) {
    if (each == value) return name;
  }
  return "";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const std::pair<E, std::string_view> (&table)[N], std::string_view name) {
  for (const auto& [each, text] : table) {
    if (text == name) return each;
  }
  return std::nullopt;
}

double ProcessCpuSeconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// "a/b.c.jpg" → "a/b.c"; a name without an extension is its own stem.
std::string_view Stem(std::string_view name) {
  const size_t dot = name.rfind('.');
  const size_t slash = name.rfind('/');
  if (dot == std::string_view::npos || dot == 0 || (slash != std::string_view::npos && dot < slash + 2)) {
    return name;
  }
  return name.substr(0, dot);
}

std::string_view Extension(std::string_view name) {
  const std::string_view stem = Stem(name);
  return stem.size() == name.size() ? std::string_view{} : name.substr(stem.size() + 1);
}

// Raises `peak` to `value` when it is higher.
void RaiseTo(std::atomic<int64_t>& peak, int64_t value) {
  int64_t seen = peak.load();
  while (value > seen && !peak.compare_exchange_weak(seen, value)) {
  }
}

// Counts bytes as temporary disk use for as long as it lives.
class TempUse {
 public:
  TempUse(std::atomic<int64_t>& now, std::atomic<int64_t>& peak) : now_(now), peak_(peak) {}
  ~TempUse() { now_ -= held_; }
  void Add(int64_t bytes) {
    held_ += bytes;
    RaiseTo(peak_, now_ += bytes);
  }

 private:
  std::atomic<int64_t>& now_;
  std::atomic<int64_t>& peak_;
  int64_t held_ = 0;
};

}  // namespace

// ---- BatchSpec ------------------------------------------------------------------------------

Json BatchSpec::ToJson() const {
  Json out = {{"from", from},
              {"to", to},
              {"pyramid", NameOf(kPyramids, pyramid)},
              {"mode", NameOf(kModes, mode)},
              {"targets", Json::array()}};
  for (const auto& target : targets) {
    out["targets"].push_back({{"preset", target.preset}, {"options", target.options}});
  }
  return out;
}

Result<BatchSpec> BatchSpec::FromJson(const Json& json) {
  try {
    BatchSpec spec;
    spec.from = json.at("from").get<std::string>();
    spec.to = json.at("to").get<std::string>();
    auto pyramid = ValueOf(kPyramids, json.at("pyramid").get<std::string>());
    auto mode = ValueOf(kModes, json.at("mode").get<std::string>());
    if (!pyramid || !mode) return Fail(ErrorCode::kInvalidArgument, "batch job: bad pyramid or mode");
    spec.pyramid = *pyramid;
    spec.mode = *mode;
    for (const auto& target : json.at("targets")) {
      spec.targets.push_back(
          {target.at("preset").get<std::string>(), target.at("options").get<std::string>()});
    }
    return spec;
  } catch (const Json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("batch job: ") + e.what());
  }
}

// ---- BatchProcessor -------------------------------------------------------------------------

BatchProcessor::BatchProcessor(BatchSpec spec, std::unique_ptr<BatchStore> source,
                               std::unique_ptr<BatchStore> destination,
                               std::vector<Compiled> targets, transforms::PipelineLimits limits)
    : spec_(std::move(spec)),
      source_(std::move(source)),
      destination_(std::move(destination)),
      targets_(std::move(targets)),
      limits_(std::move(limits)) {}

Result<std::unique_ptr<BatchProcessor>> BatchProcessor::Open(const BatchSpec& spec,
                                                             const BatchStoreOptions& stores,
                                                             const transforms::PipelineLimits& limits) {
  if (spec.targets.empty()) return Fail(ErrorCode::kInvalidArgument, "nothing to make: give --preset or --options");
  transforms::ParserConfig parser;
  parser.max_dimension = kBatchMaxDimension;
  parser.watermark_configured = !limits.watermark_data.empty();
  std::vector<Compiled> compiled;
  for (const auto& target : spec.targets) {
    const std::string what = target.preset.empty() ? "--options" : "preset " + target.preset;
    if (!target.preset.empty()) {
      if (auto ok = CheckBatchName(target.preset); !ok || target.preset.find('/') != std::string::npos) {
        return Fail(ErrorCode::kInvalidArgument, what + ": not a plain name");
      }
    }
    auto request = transforms::ParseProcessingPath("/" + target.options + "/plain/local:///batch", parser);
    if (!request) return Fail(ErrorCode::kInvalidArgument, what + ": " + request.error().message);
    if (request->spec.raw) return Fail(ErrorCode::kInvalidArgument, what + ": raw makes nothing");
    Compiled each{request->spec, ""};
    each.digest = storage::Sha256Hex(each.spec.Canonical() + "|" +
                                     std::string(NameOf(kPyramids, spec.pyramid)))
                      .substr(0, 16);
    compiled.push_back(std::move(each));
  }
  auto source = BatchStore::Open(spec.from, stores, false);
  if (!source) return Fail(source.error().code, "--from: " + source.error().message);
  auto destination = BatchStore::Open(spec.to, stores, true);
  if (!destination) return Fail(destination.error().code, "--to: " + destination.error().message);
  return std::unique_ptr<BatchProcessor>(new BatchProcessor(spec, *std::move(source),
                                                            *std::move(destination),
                                                            std::move(compiled), limits));
}

ImageFormat BatchProcessor::OutputFormat(size_t target, std::string_view item_name) const {
  const ImageFormat named = targets_[target].spec.format;
  if (named != ImageFormat::kUnknown) return named;
  // The source's format by its name, so the output's name is known before anything is read
  // (and --resume needs no download); the render is then asked for exactly that format.
  auto by_name = transforms::FormatFromExtension(Extension(item_name));
  return by_name && transforms::CanEncode(*by_name) ? *by_name : ImageFormat::kJpeg;
}

std::vector<std::string> BatchProcessor::OutputNames(std::string_view item_name) const {
  std::vector<std::string> names;
  for (size_t i = 0; i < targets_.size(); ++i) {
    std::string_view ext = spec_.pyramid == Pyramid::kTiff       ? "tif"
                           : spec_.pyramid == Pyramid::kDeepZoom ? "dzi"
                                                                 : transforms::FormatExtension(OutputFormat(i, item_name));
    const std::string& preset = spec_.targets[i].preset;
    names.push_back((preset.empty() ? "" : preset + "/") + std::string(Stem(item_name)) + "." +
                    std::string(ext));
  }
  return names;
}

Result<int64_t> BatchProcessor::Render(const BatchCopy& copy, size_t target,
                                       std::string_view item_name, const std::string& name,
                                       const std::string& provenance) const {
  auto staged = destination_->Stage(name);
  if (!staged) return std::unexpected(staged.error());
  transforms::TransformSpec spec = targets_[target].spec;
  spec.format = OutputFormat(target, item_name);
  auto rendered = transforms::RenderToFile(copy.path, spec, limits_, {(*staged)->path(), spec_.pyramid});
  if (!rendered) return std::unexpected(rendered.error());
  TempUse temp(temp_now_, temp_peak_);
  temp.Add(rendered->bytes);
  const std::string_view type = spec_.pyramid == Pyramid::kTiff       ? "image/tiff"
                                : spec_.pyramid == Pyramid::kDeepZoom ? "application/xml"
                                                                      : transforms::FormatMimeType(rendered->format);
  return destination_->Put(name, **staged, type, provenance);
}

BatchOutcome BatchProcessor::Process(const BatchItem& item, bool dry_run) const {
  BatchOutcome outcome;
  auto fail = [&](const common::Error& error) {
    outcome.status = BatchOutcome::Status::kFailed;
    outcome.error = error;
    return outcome;
  };
  if (auto ok = CheckBatchName(item.name); !ok) return fail(ok.error());
  const std::vector<std::string> names = OutputNames(item.name);
  std::vector<size_t> todo;
  bool any_current = false;
  for (size_t i = 0; i < names.size(); ++i) {
    if (spec_.mode != BatchMode::kOverwrite) {
      auto made_from = destination_->Provenance(names[i]);
      if (!made_from) return fail(made_from.error());
      if (made_from->has_value()) {
        if (spec_.mode == BatchMode::kKeep) continue;
        if (**made_from == item.version + " " + targets_[i].digest) {
          any_current = true;
          continue;
        }
      }
    }
    todo.push_back(i);
  }
  if (todo.empty()) {
    outcome.status = any_current ? BatchOutcome::Status::kCurrent : BatchOutcome::Status::kKept;
    return outcome;
  }
  outcome.outputs = static_cast<int>(todo.size());
  if (dry_run) return outcome;
  auto copy = source_->Fetch(item);
  if (!copy) return fail(copy.error());
  outcome.bytes_read = copy->size;
  TempUse temp(temp_now_, temp_peak_);
  if (copy->temp) temp.Add(copy->size);
  for (size_t i : todo) {
    auto stored = Render(*copy, i, item.name, names[i], copy->version + " " + targets_[i].digest);
    if (!stored) {
      const std::string& preset = spec_.targets[i].preset;
      return fail({stored.error().code,
                   (preset.empty() ? "" : "preset " + preset + ": ") + stored.error().message});
    }
    outcome.bytes_written += *stored;
  }
  return outcome;
}

// ---- Jobs -----------------------------------------------------------------------------------

std::string BatchJobPayload(const BatchSpec& spec, const BatchItem& item) {
  return Json{{"spec", spec.ToJson()},
              {"item", {{"name", item.name}, {"size", item.size}, {"version", item.version}}}}
      .dump();
}

Result<std::pair<BatchSpec, BatchItem>> ParseBatchJob(std::string_view payload) {
  const Json json = Json::parse(payload, nullptr, false);
  if (!json.is_object() || !json.contains("spec") || !json.contains("item")) {
    return Fail(ErrorCode::kInvalidArgument, "batch job: not a batch payload");
  }
  auto spec = BatchSpec::FromJson(json["spec"]);
  if (!spec) return std::unexpected(spec.error());
  try {
    const Json& item = json["item"];
    return std::pair{*std::move(spec),
                     BatchItem{item.at("name").get<std::string>(), item.at("size").get<int64_t>(),
                               item.at("version").get<std::string>()}};
  } catch (const Json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("batch job: ") + e.what());
  }
}

Result<const BatchProcessor*> BatchJobs::For(const BatchSpec& spec) {
  constexpr size_t kMaxProcessors = 16;
  const std::string key = spec.ToJson().dump();
  std::lock_guard lock(mu_);
  if (auto found = processors_.find(key); found != processors_.end()) return found->second.get();
  auto opened = BatchProcessor::Open(spec, stores_, limits_);
  if (!opened) return std::unexpected(opened.error());
  if (processors_.size() >= kMaxProcessors) processors_.clear();
  return processors_.emplace(key, *std::move(opened)).first->second.get();
}

Result<void> BatchJobs::Handle(const Job& job) {
  auto parsed = ParseBatchJob(job.payload);
  if (!parsed) return std::unexpected(parsed.error());
  auto processor = For(parsed->first);
  if (!processor) return std::unexpected(processor.error());
  BatchOutcome outcome = (*processor)->Process(parsed->second);
  if (outcome.status == BatchOutcome::Status::kFailed) {
    return Fail(outcome.error.code, parsed->second.name + ": " + outcome.error.message);
  }
  return {};
}

// ---- Filters --------------------------------------------------------------------------------

bool InBatchShard(std::string_view name, int index, int count) {
  if (count <= 1) return true;
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  return static_cast<int>(hash % static_cast<uint64_t>(count)) == index;
}

bool BatchIncludes(std::string_view name, const std::vector<std::string>& globs) {
  if (globs.empty()) return true;
  const std::string whole(name);
  const size_t slash = whole.rfind('/');
  const std::string base = slash == std::string::npos ? whole : whole.substr(slash + 1);
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& glob) {
    return ::fnmatch(glob.c_str(), (glob.find('/') == std::string::npos ? base : whole).c_str(), 0) == 0;
  });
}

// ---- RunBatch -------------------------------------------------------------------------------

namespace {

// Items from the lister to the worker threads; bounded, so the listing runs only a little ahead.
class ItemQueue {
 public:
  explicit ItemQueue(size_t capacity) : capacity_(capacity) {}
  void Push(BatchItem item) {
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(std::move(item));
    ready_.notify_one();
  }
  std::optional<BatchItem> Pop() {
    std::unique_lock lock(mu_);
    ready_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    BatchItem item = std::move(items_.front());
    items_.pop_front();
    space_.notify_one();
    return item;
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    ready_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<BatchItem> items_;
  bool closed_ = false;
};

struct RunStats {
  std::atomic<int64_t> accepted{0};  // items past the filters
  std::atomic<bool> listed{false};   // accepted is the total
  std::atomic<int64_t> rendered{0}, current{0}, kept{0}, failed{0}, enqueued{0}, outputs{0};
  std::atomic<int64_t> bytes_read{0}, bytes_written{0};
  std::atomic<int> in_flight{0};

  int64_t done() const { return rendered + current + kept + failed + enqueued; }
};

std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60));
  } else {
    std::snprintf(text, sizeof text, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return text;
}

class Runner {
 public:
  Runner(const BatchProcessor& processor, const BatchRunOptions& options)
      : processor_(processor), options_(options), queue_(std::max(64, options.jobs * 4)) {}

  Result<Json> Run() {
    std::vector<std::string> retry_keys;
    if (!options_.retry_failed.empty()) {
      auto keys = ReadFailures(options_.retry_failed);
      if (!keys) return std::unexpected(keys.error());
      retry_keys = *std::move(keys);
    }
    // A failures file is about the latest run only.
    if (!options_.failures_path.empty()) std::remove(options_.failures_path.c_str());
    std::vector<std::thread> workers;
    for (int i = 0; i < std::max(1, options_.jobs); ++i) workers.emplace_back([this] { Work(); });
    std::thread progress([this] { ReportProgress(); });
    Result<void> fed = options_.retry_failed.empty() ? FeedListing() : FeedKeys(retry_keys);
    stats_.listed = true;
    queue_.Close();
    for (auto& worker : workers) worker.join();
    {
      std::lock_guard lock(mu_);
      finished_ = true;
      wake_.notify_all();
    }
    progress.join();
    if (!options_.live) PrintProgress();  // the last one says 100 %
    if (failures_) std::fclose(failures_);
    if (!fed) return std::unexpected(fed.error());
    return Summary();
  }

 private:
  static Result<std::vector<std::string>> ReadFailures(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Fail(ErrorCode::kNotFound, "cannot read the failures file " + path);
    std::vector<std::string> keys;
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const Json entry = Json::parse(line, nullptr, false);
      if (!entry.is_object() || !entry.contains("key") || !entry["key"].is_string()) {
        return Fail(ErrorCode::kInvalidArgument, path + ": not a failures file line: " + line.substr(0, 80));
      }
      keys.push_back(entry["key"].get<std::string>());
    }
    return keys;
  }

  void Accept(BatchItem item) {
    if (!BatchIncludes(item.name, options_.include) ||
        !InBatchShard(item.name, options_.shard_index, options_.shard_count)) {
      return;
    }
    ++stats_.accepted;
    queue_.Push(std::move(item));
  }

  Result<void> FeedListing() {
    auto lister = processor_.source().List(options_.page_size);
    for (;;) {
      auto page = lister->Next();
      if (!page) return Fail(page.error().code, "listing " + processor_.spec().from + ": " + page.error().message);
      if (page->empty()) return {};
      for (auto& item : *page) Accept(std::move(item));
    }
  }

  Result<void> FeedKeys(const std::vector<std::string>& keys) {
    for (const auto& key : keys) {
      auto item = processor_.source().Stat(key);
      if (item) {
        Accept(*std::move(item));
        continue;
      }
      if (!InBatchShard(key, options_.shard_index, options_.shard_count)) continue;
      ++stats_.accepted;
      BatchOutcome outcome;
      outcome.status = BatchOutcome::Status::kFailed;
      outcome.error = item.error();
      Record({key, 0, ""}, outcome, 0, 0);
    }
    return {};
  }

  void Work() {
    while (auto item = queue_.Pop()) {
      const auto started = Clock::now();
      const double cpu = ProcessCpuSeconds();
      const int sharing = ++stats_.in_flight;
      BatchOutcome outcome;
      if (options_.enqueue != nullptr) {
        auto queued = options_.enqueue->Enqueue(
            {std::string(kBatchJobKind), BatchJobPayload(processor_.spec(), *item)});
        if (!queued) {
          outcome.status = BatchOutcome::Status::kFailed;
          outcome.error = queued.error();
        }
      } else {
        outcome = processor_.Process(*item, options_.dry_run);
      }
      // The process's CPU over this image's time, shared among the images in flight: exact with
      // --jobs 1, an estimate beyond (libvips' threads are not the caller's).
      const int peers = std::max(sharing, stats_.in_flight.load());
      --stats_.in_flight;
      Record(*item, outcome, (ProcessCpuSeconds() - cpu) / std::max(1, peers),
             std::chrono::duration<double>(Clock::now() - started).count());
    }
  }

  void Record(const BatchItem& item, const BatchOutcome& outcome, double cpu, double seconds) {
    std::string_view status;
    switch (outcome.status) {
      case BatchOutcome::Status::kRendered:
        status = options_.enqueue ? "enqueued" : options_.dry_run ? "would-render" : "rendered";
        ++(options_.enqueue ? stats_.enqueued : stats_.rendered);
        break;
      case BatchOutcome::Status::kCurrent:
        status = "current";
        ++stats_.current;
        break;
      case BatchOutcome::Status::kKept:
        status = "kept";
        ++stats_.kept;
        break;
      case BatchOutcome::Status::kFailed:
        status = "failed";
        ++stats_.failed;
        break;
    }
    stats_.outputs += outcome.outputs;
    stats_.bytes_read += outcome.bytes_read;
    stats_.bytes_written += outcome.bytes_written;
    Json line = {{"key", item.name}, {"status", status}};
    if (outcome.status == BatchOutcome::Status::kFailed) line["error"] = outcome.error.message;
    if (outcome.status == BatchOutcome::Status::kRendered && !options_.dry_run && !options_.enqueue) {
      line["outputs"] = outcome.outputs;
      line["cpu_s"] = std::round(cpu * 1000) / 1000;
      line["ms"] = std::llround(seconds * 1000);
      line["bytes_read"] = outcome.bytes_read;
      line["bytes_written"] = outcome.bytes_written;
      const bool s3_from = processor_.source().remote(), s3_to = processor_.destination().remote();
      const int64_t heads = s3_to && processor_.spec().mode != BatchMode::kOverwrite ? outcome.outputs : 0;
      line["usd"] = Dollars(cpu, (s3_from ? 1 : 0) + heads, s3_to ? outcome.outputs : 0);
    }
    std::lock_guard lock(mu_);
    std::fprintf(options_.items, "%s\n", line.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
    if (outcome.status == BatchOutcome::Status::kFailed && !options_.failures_path.empty()) {
      if (failures_ == nullptr) failures_ = std::fopen(options_.failures_path.c_str(), "w");
      if (failures_ != nullptr) {
        Json failure = {{"key", item.name}, {"error", outcome.error.message}};
        std::fprintf(failures_, "%s\n", failure.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
        std::fflush(failures_);
      }
    }
  }

  // S3 prices GET/HEAD and PUT/LIST requests per 1,000.
  double Dollars(double cpu, int64_t gets, int64_t puts) const {
    const BatchPrices& p = options_.prices;
    return cpu / 3600 * p.vcpu_hour + static_cast<double>(gets) / 1000 * p.get_1k +
           static_cast<double>(puts) / 1000 * p.put_1k;
  }

  Json Progress() const {
    const double elapsed = std::chrono::duration<double>(Clock::now() - started_).count();
    const int64_t done = stats_.done();
    Json out = {{"done", done},
                {"failed", stats_.failed.load()},
                {"images_per_s", std::round(done / std::max(elapsed, 1e-3) * 10) / 10},
                {"mb_per_s", std::round(stats_.bytes_read / std::max(elapsed, 1e-3) / 1e5) / 10},
                {"elapsed_s", std::llround(elapsed)}};
    out["total"] = stats_.listed ? Json(stats_.accepted.load()) : Json(nullptr);
    if (stats_.listed && done > 0) {
      out["eta_s"] = std::llround(elapsed / done * (stats_.accepted - done));
    }
    return out;
  }

  void PrintProgress() {
    const Json p = Progress();
    std::lock_guard lock(mu_);
    if (!options_.live) {
      std::fprintf(options_.progress, "%s\n", Json{{"progress", p}}.dump().c_str());
      return;
    }
    const std::string total = p["total"].is_null() ? std::to_string(stats_.accepted.load()) + "+"
                                                   : std::to_string(p["total"].get<int64_t>());
    std::fprintf(options_.progress, "\r\033[K%lld/%s images  %.1f img/s  %.1f MB/s  ETA %s  %lld failed",
                 static_cast<long long>(p["done"].get<int64_t>()), total.c_str(),
                 p["images_per_s"].get<double>(), p["mb_per_s"].get<double>(),
                 p.contains("eta_s") ? Duration(p["eta_s"].get<double>()).c_str() : "?",
                 static_cast<long long>(p["failed"].get<int64_t>()));
    std::fflush(options_.progress);
  }

  void ReportProgress() {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, options_.progress_interval, [&] { return finished_; })) {
      lock.unlock();
      PrintProgress();
      lock.lock();
    }
  }

  Json Summary() const {
    const double elapsed = std::chrono::duration<double>(Clock::now() - started_).count();
    const double cpu = ProcessCpuSeconds();
    const auto& requests = processor_.source().requests();
    const auto& written = processor_.destination().requests();
    const int64_t gets = requests.get + written.get;
    const int64_t puts = requests.put + written.put + requests.list + written.list;
    Json summary = {
        {"images", stats_.accepted.load()},
        {"rendered", stats_.rendered.load()},
        {"current", stats_.current.load()},
        {"kept", stats_.kept.load()},
        {"failed", stats_.failed.load()},
        {"enqueued", stats_.enqueued.load()},
        {"outputs", stats_.outputs.load()},
        {"bytes_read", stats_.bytes_read.load()},
        {"bytes_written", stats_.bytes_written.load()},
        {"temp_peak_bytes", processor_.temp_bytes_peak()},
        {"cpu_s", std::round(cpu * 10) / 10},
        {"wall_s", std::round(elapsed * 10) / 10},
        {"images_per_s", std::round(stats_.done() / std::max(elapsed, 1e-3) * 10) / 10},
        {"requests", {{"get", gets}, {"put_list", puts}}},
        {"cost",
         {{"usd", Dollars(cpu, gets, puts)},
          {"formula", "cpu_s/3600*vcpu_hour + get/1000*get_1k + put_list/1000*put_1k"},
          {"vcpu_hour", options_.prices.vcpu_hour},
          {"get_1k", options_.prices.get_1k},
          {"put_1k", options_.prices.put_1k}}}};
    std::fprintf(options_.items, "%s\n", Json{{"summary", summary}}.dump().c_str());
    std::fprintf(options_.progress,
                 "%s%lld images: %lld rendered (%lld outputs), %lld current, %lld kept, %lld "
                 "failed%s in %.1f s (%.1f images/s); read %.1f MB, wrote %.1f MB, temporary disk "
                 "peak %.1f MB; CPU %.1f s ≈ $%.4f\n",
                 options_.live ? "\r\033[K" : "", static_cast<long long>(stats_.accepted.load()),
                 static_cast<long long>(stats_.rendered.load()),
                 static_cast<long long>(stats_.outputs.load()),
                 static_cast<long long>(stats_.current.load()),
                 static_cast<long long>(stats_.kept.load()),
                 static_cast<long long>(stats_.failed.load()),
                 stats_.failed > 0 && !options_.failures_path.empty()
                     ? (" (see " + options_.failures_path + ")").c_str()
                     : "",
                 elapsed, summary["images_per_s"].get<double>(), stats_.bytes_read / 1e6,
                 stats_.bytes_written / 1e6, processor_.temp_bytes_peak() / 1e6, cpu,
                 summary["cost"]["usd"].get<double>());
    return summary;
  }

  const BatchProcessor& processor_;
  const BatchRunOptions& options_;
  const Clock::time_point started_ = Clock::now();
  ItemQueue queue_;
  RunStats stats_;
  std::mutex mu_;  // the output streams, the failures file and finished_
  std::condition_variable wake_;
  bool finished_ = false;
  FILE* failures_ = nullptr;
};

}  // namespace

Result<Json> RunBatch(const BatchProcessor& processor, const BatchRunOptions& options) {
  return Runner(processor, options).Run();
}

}  // namespace imgorigin::ingest
