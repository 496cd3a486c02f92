#include "transforms/render_many.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "transforms/render_cost.h"
#include "transforms/steps.h"

namespace imgorigin::transforms {
namespace {

using common::Result;

// What decides a decode, apart from its scale.
struct DecodeKey {
  bool keep_profile = true;
  bool thumbnail = false;
  int frames = 0;  // frames kept when animated; 0 = the first frame only
  auto operator<=>(const DecodeKey&) const = default;
};

// A spec read as far as its header: whether it can share a decode, and what it would reserve.
struct Probe {
  std::unique_ptr<Context> ctx;  // a Context does not move (its Deadline is watched by address)
  std::optional<DecodeKey> key;  // nullopt: rendered on its own
  RenderFootprint footprint;
};

// The steps that read the source's header and decide the output, before any pixel is decoded.
constexpr Step kHeaderSteps[] = {CheckRequest, ReadHeader, ChooseOutput};

Result<void> ReadUpToDecode(Context& ctx) {
  return CatchVipsErrors(
      [&ctx]() -> Result<void> {
        for (const Step step : kHeaderSteps) {
          if (auto done = step(ctx); !done || ctx.output) return done;
        }
        return {};
      },
      ctx.stage, &ctx.deadline);
}

// Fills `probe`; a spec already answered by its header steps (an error, raw, skip_processing)
// gets its output here, and its probe no context.
void ProbeSpec(std::string_view source, const TransformSpec& spec, const PipelineLimits& limits,
               Probe& probe, ManyOutput& output) {
  probe.ctx = std::make_unique<Context>(source, nullptr, spec, limits);
  Context& ctx = *probe.ctx;
  if (auto read = ReadUpToDecode(ctx); !read) {
    output.image = std::unexpected(read.error());
    probe.ctx.reset();
    return;
  }
  if (ctx.output) {
    output.image = std::move(*ctx.output);
    probe.ctx.reset();
    return;
  }
  if (spec.trim) return;
  probe.key =
      DecodeKey{!spec.strip_color_profile, ctx.use_thumbnail, ctx.animated ? ctx.frame_count : 0};
  probe.footprint = PlanFootprint(ctx);
}

void FailAll(const std::vector<size_t>& members, const common::Error& error,
             std::vector<ManyOutput>& outputs) {
  for (const size_t i : members) outputs[i].image = std::unexpected(error);
}

// Decodes the source once for `members` (two or more specs of one DecodeKey), then renders each
// of them from that decode.
void RenderGroup(std::string_view source, std::span<const TransformSpec> specs,
                 std::vector<Probe>& probes, const std::vector<size_t>& members,
                 const PipelineLimits& limits, std::vector<ManyOutput>& outputs) {
  double scale = 0;
  for (const size_t i : members) scale = std::max(scale, probes[i].footprint.decode_scale);
  // Held whole at that scale, beside one output at a time (members render one after another).
  RenderFootprint footprint;
  int64_t largest = -1;
  for (const size_t i : members) {
    RenderFootprint f = probes[i].footprint;
    f.decode_scale = scale;
    f.whole_decode = true;
    if (const int64_t bytes = EstimateRenderMemory(f); bytes > largest) {
      largest = bytes;
      footprint = f;
    }
  }
  // The member that needs the largest decode opens it; its header steps already ran.
  Context& lead =
      *probes[*std::max_element(members.begin(), members.end(), [&](size_t a, size_t b) {
         return probes[a].footprint.decode_scale < probes[b].footprint.decode_scale;
       })].ctx;
  auto reservation = AdmitRender(footprint, limits, lead.deadline.at());
  if (!reservation) return FailAll(members, reservation.error(), outputs);
  vips::VImage decoded;
  const auto ran = CatchVipsErrors(
      [&]() -> Result<void> {
        decoded = DecodeSource(lead, scale).copy_memory();
        return {};
      },
      lead.stage, &lead.deadline);
  lead.load_watch.reset();
  if (!ran) return FailAll(members, ran.error(), outputs);
  for (const size_t i : members) {
    Context ctx(source, nullptr, specs[i], limits);
    ctx.shared = &decoded;
    if (auto rendered = RunSteps(ctx); !rendered) {
      outputs[i].image = std::unexpected(rendered.error());
    } else {
      outputs[i] = {std::move(*ctx.output), true};
    }
  }
}

}  // namespace

std::vector<ManyOutput> RenderMany(std::string_view source, std::span<const TransformSpec> specs,
                                   const PipelineLimits& limits) {
  std::vector<ManyOutput> outputs(
      specs.size(), ManyOutput{common::Fail(common::ErrorCode::kInternal, "not rendered"), false});
  std::vector<Probe> probes(specs.size());
  std::map<DecodeKey, std::vector<size_t>> groups;
  for (size_t i = 0; i < specs.size(); ++i) {
    ProbeSpec(source, specs[i], limits, probes[i], outputs[i]);
    if (probes[i].key) groups[*probes[i].key].push_back(i);
  }
  for (const auto& [key, members] : groups) {
    if (members.size() >= 2) RenderGroup(source, specs, probes, members, limits, outputs);
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    // Trimmed, or alone in its group: the ordinary render, with its own shrink-on-load.
    if (probes[i].ctx && (!probes[i].key || groups[*probes[i].key].size() < 2)) {
      probes[i].ctx.reset();
      outputs[i].image = Process(source, specs[i], limits);
    }
  }
  return outputs;
}

}  // namespace imgorigin::transforms
