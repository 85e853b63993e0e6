#include "tools/lnx_model.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "compress/range_coder.h"
#include "core/batch_norm_affine.h"
#include "core/checkpoint_io.h"
#include "core/ops.h"
#include "layers/batch_norm.h"
#include "tools/datasets.h"

namespace lnx::tools {
namespace {

// Which part of the file a state-dict entry belongs to.
enum class Part { Latent, Decoder, Prior, Float, Skip };

struct Entry {
  Part part;
  std::string group;  // decoder / prior entries
};

Entry classify(const std::string& name, const Tensor& t,
               const std::map<std::string, const LatentLayer*>& latents) {
  if (latents.count(name)) return {Part::Latent, latents.at(name)->group().name()};
  if (name.rfind("groups.", 0) == 0) {
    const size_t dot = name.find('.', 7);
    const std::string group =
        name.substr(7, dot == std::string::npos ? std::string::npos : dot - 7);
    if (name.find(".decoder.", 7) != std::string::npos) return {Part::Decoder, group};
    if (name.find(".prior.", 7) != std::string::npos) return {Part::Prior, group};
  }
  // Integer bookkeeping (batch norm's num_batches_tracked) plays no part in inference.
  if (t.dtype() != DType::Float32) return {Part::Skip, ""};
  return {Part::Float, ""};
}

LnxTensor to_lnx(const std::string& name, const Tensor& t) {
  return {name, t.shape(), t.contiguous().cpu().to_vector<float>()};
}

std::string shape_text(const std::vector<int64_t>& s) {
  return to_string(Shape(s));
}

// The network's entries of one part in state-dict order: the order of a version-2 file.
std::vector<std::pair<std::string, Tensor>> ordered_entries(
    const StateDict& sd, Part part, const std::map<std::string, const LatentLayer*>& latents,
    const std::string& group = "") {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : sd) {
    const Entry e = classify(name, t, latents);
    if (e.part == part && (group.empty() || e.group == group)) out.emplace_back(name, t);
  }
  return out;
}

using BatchNorms = std::map<std::string, const BatchNorm2d*>;  // by module path

BatchNorms batch_norms_by_path(const Module& model) {
  BatchNorms out;
  for (const auto& [path, m] : model.named_modules())
    if (const auto* bn = dynamic_cast<const BatchNorm2d*>(m)) out[path] = bn;
  return out;
}

// Why a batch norm cannot be stored folded (identity_running_var's range), or "" when it can.
std::string fold_obstacle(const std::string& path, const BatchNorm2d& bn) {
  if (!bn.weight().defined()) return str("batch norm '", path, "' has no affine weight and bias");
  if (!(bn.eps() > 0 && bn.eps() <= 0.5))
    return str("batch norm '", path, "' has eps ", bn.eps(), ", expected 0 < eps <= 0.5");
  return "";
}

bool is_running_statistic(const std::string& name, const BatchNorms& folded) {
  for (const char* stat : {".running_mean", ".running_var"}) {
    const size_t n = std::strlen(stat);
    if (name.size() > n && name.compare(name.size() - n, n, stat) == 0 &&
        folded.count(name.substr(0, name.size() - n)))
      return true;
  }
  return false;
}

// The float block's tensors in state-dict order; with batch norm folded, without the running
// statistics of the folded batch norms.
std::vector<std::pair<std::string, Tensor>> float_entries(
    const StateDict& sd, const std::map<std::string, const LatentLayer*>& latents,
    const BatchNorms& folded) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& e : ordered_entries(sd, Part::Float, latents))
    if (!is_running_statistic(e.first, folded)) out.push_back(std::move(e));
  return out;
}

// Each batch norm's weight and bias replaced by the scale and shift its evaluation applies.
std::map<std::string, std::vector<float>> folded_values(const BatchNorms& bns) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [path, bn] : bns) {
    const auto get = [](const Tensor& t) { return t.contiguous().cpu().to_vector<float>(); };
    const std::vector<float> w = get(bn->weight().data()), b = get(bn->bias().data()),
                             m = get(bn->running_mean()), v = get(bn->running_var());
    std::vector<float>& scale = out[path + ".weight"];
    std::vector<float>& shift = out[path + ".bias"];
    const float identity = identity_running_var(bn->eps());
    for (size_t c = 0; c < w.size(); ++c) {
      const ChannelAffine a = batch_norm_affine(w[c], b[c], m[c], v[c], bn->eps());
      const ChannelAffine back = batch_norm_affine(a.scale, a.shift, 0.0f, identity, bn->eps());
      LNX_CHECK(back.scale == a.scale && back.shift == a.shift, "compress: batch norm '", path,
                "' channel ", c, ": its folded scale ", a.scale, " and shift ", a.shift,
                " do not survive unfolding (", back.scale, ", ", back.shift, ")");
      scale.push_back(a.scale);
      shift.push_back(a.shift);
    }
  }
  return out;
}

uint32_t layout_crc(const std::vector<std::pair<std::string, Tensor>>& entries) {
  std::vector<LnxLayoutEntry> layout;
  for (const auto& [name, t] : entries) layout.push_back({name, t.shape()});
  return lnx_layout_crc(layout);
}

// The network's float entries of one part, by name, for checking a file against.
std::map<std::string, Tensor> entries_of(const StateDict& sd, Part part,
                                         const std::map<std::string, const LatentLayer*>& latents) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : sd)
    if (classify(name, t, latents).part == part) out[name] = t;
  return out;
}

// Checks that `got` names exactly the tensors of `want` with their shapes, and copies them in.
void load_tensors(const std::vector<LnxTensor>& got, const std::map<std::string, Tensor>& want,
                  const std::string& where, StateDict& into, bool all_required) {
  std::set<std::string> seen;
  for (const LnxTensor& t : got) {
    const auto it = want.find(t.name);
    LNX_CHECK(it != want.end(), "lnx: ", where, ": tensor '", t.name,
              "' is not part of the architecture's network");
    LNX_CHECK(it->second.shape() == Shape(t.shape), "lnx: ", where, ": tensor '", t.name,
              "' has shape ", shape_text(t.shape), ", the architecture expects ",
              to_string(it->second.shape()));
    seen.insert(t.name);
    into.set(t.name, from_vector(t.data, t.shape));
  }
  if (all_required)
    for (const auto& [name, t] : want)
      LNX_CHECK(seen.count(name), "lnx: ", where, ": tensor '", name, "' of shape ",
                to_string(t.shape()), " is missing");
}

// Version 1: a stream per layer, named and shaped; named float tensors.
void load_latents_v1(const LnxModel& file, const StateDict& sd,
                     const std::map<std::string, const LatentLayer*>& latents,
                     const std::map<std::string, const LnxGroup*>& file_groups, LoadedNetwork& out,
                     StateDict& load) {
  // Latents: every latent layer once, its shape from the architecture bounding the decode.
  for (const LnxLatent& l : file.latents) {
    const std::string where = str("layer '", l.name, "'");
    const auto it = latents.find(l.name);
    LNX_CHECK(it != latents.end(), "lnx: ", where, ": not a latent layer of the architecture");
    const Tensor& ref = sd.at(l.name);
    LNX_CHECK(ref.shape() == Shape(l.shape), "lnx: ", where, ": shape ", shape_text(l.shape),
              ", the architecture expects ", to_string(ref.shape()));
    LNX_CHECK(it->second->group().name() == l.group, "lnx: ", where, ": group '", l.group,
              "', the architecture puts it in '", it->second->group().name(), "'");
    std::vector<int32_t> q;
    try {
      q = rans_decode(l.stream.data(), l.stream.size(), ref.numel(),
                      file_groups.at(l.group)->tables);
    } catch (const Error& e) {
      fail("lnx: ", where, ": ", e.what());
    }
    std::vector<float> v(q.begin(), q.end());
    load.set(l.name, from_vector(v, ref.shape()));
    out.latents[l.name] = std::move(q);
  }
  for (const auto& [name, layer] : latents)
    LNX_CHECK(out.latents.count(name), "lnx: the file has no section for layer '", name, "'");

  load_tensors(file.floats, entries_of(sd, Part::Float, latents), "float tensors", load, true);
}

// Versions 2 to 4: a stream per group over its layers in state-dict order; the floats unnamed in
// state-dict order (version 4: batch norm possibly folded). The architecture gives every count and
// shape; the file's own counts and layout checksums must agree with it before anything is decoded.
void load_latents_v2(const LnxModel& file, const Module& model, const StateDict& sd,
                     const std::map<std::string, const LatentLayer*>& latents,
                     const std::map<std::string, const LnxGroup*>& file_groups, LoadedNetwork& out,
                     StateDict& load) {
  for (const LnxGroupCode& c : file.codes) {
    const std::string where = str("group '", c.group, "' code");
    const auto layers = ordered_entries(sd, Part::Latent, latents, c.group);
    LNX_CHECK(c.layers == layers.size(), "lnx: ", where, ": ", c.layers,
              " layers, the architecture's group has ", layers.size());
    LNX_CHECK(c.layout_crc == layout_crc(layers), "lnx: ", where,
              ": the layers' names and shapes differ from the architecture's (layout checksum)");
    int64_t total = 0;
    for (const auto& [name, t] : layers) total += t.numel();
    std::vector<int32_t> q;
    try {
      const std::vector<FrequencyTable>& tables = file_groups.at(c.group)->tables;
      q = c.slice_occupancy
              ? rans_decode_slices(c.stream.data(), c.stream.size(), total, c.occupancy, tables)
              : rans_decode(c.stream.data(), c.stream.size(), total, tables);
    } catch (const Error& e) {
      fail("lnx: ", where, ": ", e.what());
    }
    int64_t at = 0;
    for (const auto& [name, t] : layers) {
      std::vector<int32_t> v(q.begin() + at, q.begin() + at + t.numel());
      at += t.numel();
      load.set(name, from_vector(std::vector<float>(v.begin(), v.end()), t.shape()));
      out.latents[name] = std::move(v);
    }
  }
  for (const auto& [name, layer] : latents)
    LNX_CHECK(out.latents.count(name), "lnx: the file has no code section for group '",
              layer->group().name(), "' (layer '", name, "')");

  const LnxFloatBlock& b = file.float_block;
  BatchNorms folded;
  if (b.folded_batch_norm) {
    folded = batch_norms_by_path(model);
    for (const auto& [path, bn] : folded) {
      const std::string why = fold_obstacle(path, *bn);
      LNX_CHECK(why.empty(), "lnx: float tensors: batch norm is folded, but ", why);
    }
  }
  const auto floats = float_entries(sd, latents, folded);
  int64_t total = 0;
  for (const auto& [name, t] : floats) total += t.numel();
  LNX_CHECK(b.tensors == floats.size() && static_cast<int64_t>(b.values.size()) == total,
            "lnx: float tensors: ", b.tensors, " tensors of ", b.values.size(),
            " values, the architecture expects ", floats.size(), " of ", total);
  LNX_CHECK(
      b.layout_crc == layout_crc(floats),
      "lnx: float tensors: names and shapes differ from the architecture's (layout checksum)");
  int64_t at = 0;
  for (const auto& [name, t] : floats) {
    std::vector<float> v(b.values.begin() + at, b.values.begin() + at + t.numel());
    at += t.numel();
    load.set(name, from_vector(v, t.shape()));
  }
  // Folded: the stored weight and bias are the scale and shift; these statistics make batch
  // norm apply exactly them (core/batch_norm_affine.h).
  for (const auto& [path, bn] : folded) {
    const Shape c{bn->num_features()};
    load.set(path + ".running_mean", zeros(c));
    load.set(path + ".running_var", full(c, identity_running_var(bn->eps())));
  }
}

}  // namespace

std::map<std::string, const LatentLayer*> latent_layers_by_name(const Module& model) {
  std::map<std::string, const LatentLayer*> out;
  for (const auto& [path, m] : model.named_modules())
    if (const auto* l = dynamic_cast<const LatentLayer*>(m))
      out[path.empty() ? "weight" : path + ".weight"] = l;
  return out;
}

Compressed compress_network(const Config& config, const DataShape& shape, const Module& model,
                            const GroupSet& groups, const CompressOptions& options) {
  NoGradGuard ng;
  Compressed out;
  LnxModel& f = out.file;
  f.arch = {options.full_config ? config.dump() : config.dump_sections({"network", "dataset"}),
            shape.num_classes, shape.in_channels, shape.image_size};
  f.float16 = options.float16;
  std::map<std::string, std::vector<FrequencyTable>> tables;
  std::map<std::string, FrequencyTable> occupancy;  // groups coded with slice flags
  for (const auto& g : groups.groups()) {
    GroupCompression gc;
    gc.name = g->name();
    const std::vector<int32_t> rows = group_integer_rows(*g);
    if (options.refit_steps > 0) {
      const RefitResult r = refit_prior(*g, options.refit_steps, options.refit_lr);
      gc.prior_bits_before = r.bits_before;
      gc.prior_bits = r.bits_after;
    } else {
      std::vector<float> qf(rows.begin(), rows.end());
      const Tensor t =
          from_vector(qf, {static_cast<int64_t>(rows.size()) / g->slice_size(), g->slice_size()});
      gc.prior_bits = gc.prior_bits_before = ops::sum(g->prior().bits_per_element(t)).item();
    }
    GroupTables gt = build_group_tables(rows, g->slice_size(), &g->prior(), options.tables);
    gc.coded_bits = gt.coded_bits;
    gc.table_bits = gt.table_bits;
    gc.plain_bits = gt.coded_bits + gt.table_bits;
    if (options.slice_occupancy && options.version >= 3) {
      std::optional<OccupancyTables> occ =
          build_occupancy_tables(rows, g->slice_size(), &g->prior(), options.tables);
      if (occ && occ->total_bits() < gc.plain_bits) {
        gc.slice_occupancy = true;
        gc.coded_bits = occ->values.coded_bits + occ->flag_bits;
        gc.table_bits = occ->values.table_bits + occ->flag_table_bits;
        occupancy[g->name()] = std::move(occ->occupancy);
        gt = std::move(occ->values);
      }
    }
    for (LnxTableKind k : gt.kinds)
      (k == LnxTableKind::Prior ? gc.prior_tables : gc.histogram_tables)++;
    LnxGroup lg;
    lg.name = g->name();
    lg.channels = g->slice_size();
    lg.tables = gt.tables;
    lg.kinds = gt.kinds;
    tables[g->name()] = std::move(gt.tables);
    out.groups.push_back(gc);
    f.groups.push_back(std::move(lg));
  }
  f.version = options.version;
  const bool v1 = f.version == 1;
  const auto latents = latent_layers_by_name(model);
  const StateDict sd = model.state_dict();
  if (!v1) {  // one stream per group over its layers, in state-dict order
    for (const LnxGroup& g : f.groups) {
      const auto layers = ordered_entries(sd, Part::Latent, latents, g.name);
      if (layers.empty()) continue;
      std::vector<int32_t> q;
      for (const auto& [name, t] : layers) {
        const std::vector<int32_t> v = latent_integers(t, name);
        q.insert(q.end(), v.begin(), v.end());
      }
      LnxGroupCode code;
      code.group = g.name;
      code.layers = static_cast<uint32_t>(layers.size());
      code.layout_crc = layout_crc(layers);
      if (const auto occ = occupancy.find(g.name); occ != occupancy.end()) {
        code.slice_occupancy = true;
        code.occupancy = occ->second;
        code.stream = rans_encode_slices(q, occ->second, tables.at(g.name));
      } else {
        code.stream = rans_encode(q, tables.at(g.name));
      }
      f.codes.push_back(std::move(code));
    }
    BatchNorms folded;
    if (options.fold_batch_norm && f.version >= 4) {
      folded = batch_norms_by_path(model);
      // All or none: one batch norm that cannot fold keeps every one as trained.
      if (std::any_of(folded.begin(), folded.end(),
                      [](const auto& e) { return !fold_obstacle(e.first, *e.second).empty(); }))
        folded.clear();
    }
    const std::map<std::string, std::vector<float>> affine = folded_values(folded);
    const auto floats = float_entries(sd, latents, folded);
    f.float_block = {static_cast<uint32_t>(floats.size()), layout_crc(floats), !folded.empty(), {}};
    for (const auto& [name, t] : floats) {
      const auto a = affine.find(name);
      const std::vector<float> v =
          a != affine.end() ? a->second : t.contiguous().cpu().to_vector<float>();
      f.float_block.values.insert(f.float_block.values.end(), v.begin(), v.end());
    }
  }
  for (const auto& [name, t] : sd) {
    const Entry e = classify(name, t, latents);
    switch (e.part) {
      case Part::Latent:
        if (v1)
          f.latents.push_back({name, e.group, t.shape(),
                               rans_encode(latent_integers(t, name), tables.at(e.group))});
        break;
      case Part::Decoder:
        for (LnxGroup& g : f.groups)
          if (g.name == e.group) g.decoder.push_back(to_lnx(name, t));
        break;
      case Part::Prior:
        if (options.with_prior) f.priors.push_back(to_lnx(name, t));
        break;
      case Part::Float:
        if (v1) f.floats.push_back(to_lnx(name, t));
        break;
      case Part::Skip:
        break;
    }
  }
  return out;
}

Compressed compress_checkpoint(const std::string& path, const CompressOptions& options) {
  const Checkpoint ck = load_checkpoint(path);
  const Config config = Config::parse(ck.get_string("config"), {}, path + " (stored config)");
  LNX_CHECK(!config.get<bool>("network.vanilla"), "compress: '", path,
            "' holds a float network (network.vanilla: true); only LilNetX networks compress");
  const DataSplit data = make_datasets(config);
  const DataShape shape{data.num_classes, data.in_channels, data.image_size};
  const BuiltNetwork net = build_network_from_config(config, shape);
  StateDict sd;
  for (const auto& [name, t] : ck.model) sd.insert(name, t);
  net.model->load_state_dict(sd, true);
  return compress_network(config, shape, *net.model, *net.groups, options);
}

LoadedNetwork load_lnx_network(const LnxModel& file, const LoadOptions& options) {
  const std::string arch = "section 0 (ARCH)";
  LoadedNetwork out{Config::defaults(), {}, {}, {}};
  try {
    out.config = Config::parse(file.arch.config_yaml, {}, "the file's architecture");
  } catch (const Error& e) {
    fail("lnx: ", arch, ": the config does not parse: ", e.what());
  }
  const Config& c = out.config;
  LNX_CHECK(!c.get<bool>("network.vanilla"), "lnx: ", arch,
            ": network.vanilla is true, a float network has no latents to decode");
  const int64_t width = c.get<int64_t>("network.width");
  LNX_CHECK(width >= 1 && width <= options.max_width, "lnx: ", arch, ": network.width is ", width,
            ", expected 1 to ", options.max_width);
  out.shape = {file.arch.num_classes, file.arch.in_channels, file.arch.image_size};
  try {
    out.net = build_network_from_config(c, out.shape);
  } catch (const Error& e) {
    fail("lnx: ", arch, ": the network cannot be built: ", e.what());
  }
  const GroupSet& groups = *out.net.groups;
  const StateDict sd = out.net.model->state_dict();
  const auto latents = latent_layers_by_name(*out.net.model);
  StateDict load;

  // Groups: the same set as the network's, each with its decoder and one table per channel.
  std::map<std::string, const LnxGroup*> file_groups;
  for (const LnxGroup& g : file.groups) {
    const std::string where = str("group '", g.name, "'");
    const CompressionGroup* ng = groups.find(g.name);
    LNX_CHECK(ng, "lnx: ", where, ": the architecture's network has no such group");
    LNX_CHECK(g.channels == ng->slice_size(), "lnx: ", where, ": ", g.channels,
              " channels, the architecture expects ", ng->slice_size());
    LNX_CHECK(static_cast<int64_t>(g.tables.size()) == g.channels, "lnx: ", where, ": ",
              g.tables.size(), " tables for ", g.channels, " channels");
    for (const FrequencyTable& t : g.tables) t.validate(("lnx: " + where).c_str());
    std::map<std::string, Tensor> want;
    for (const auto& [name, t] : entries_of(sd, Part::Decoder, latents))
      if (name.rfind("groups." + g.name + ".decoder.", 0) == 0) want[name] = t;
    load_tensors(g.decoder, want, where + " decoder", load, true);
    file_groups[g.name] = &g;
  }
  for (const auto& g : groups.groups())
    LNX_CHECK(file_groups.count(g->name()), "lnx: the file has no section for group '", g->name(),
              "' of the architecture's network");

  if (file.version == 1)
    load_latents_v1(file, sd, latents, file_groups, out, load);
  else
    load_latents_v2(file, *out.net.model, sd, latents, file_groups, out, load);
  load_tensors(file.priors, entries_of(sd, Part::Prior, latents), "prior", load, false);
  out.net.model->load_state_dict(load, false);
  out.net.model->eval();
  return out;
}

std::map<std::string, Tensor> decoded_weights(const LoadedNetwork& loaded) {
  NoGradGuard ng;
  const auto latents = latent_layers_by_name(*loaded.net.model);
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : loaded.net.model->state_dict()) {
    const Entry e = classify(name, t, latents);
    if (e.part == Part::Latent) {
      out[name] = latents.at(name)->decoded_weight().data().contiguous();
    } else if (e.part == Part::Float) {
      out[name] = t;
    }
  }
  return out;
}

}  // namespace lnx::tools
