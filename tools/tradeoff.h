// The accuracy / size trade-off of several LilNetX runs: the last evaluated line of each run's
// metrics.jsonl, as a Markdown table (for the README) and an SVG plot of accuracy against size.
#pragma once

#include <string>
#include <vector>

namespace lnx::tools {

struct TradeoffPoint {
  std::string run;  // the run's folder name
  int epoch = 0;
  double test_acc = 0;  // fraction
  double size_kb = 0;   // size with fitted tables and no slice flags (size_fitted_kb): the
                        // one estimate every run has, so runs compare on one measure
  double slice_sparsity = 0;
  double flops_reduction = 0;
};

// Reads <dir>/metrics.jsonl; throws naming the file when it has no evaluated LilNetX epoch.
TradeoffPoint read_tradeoff_point(const std::string& run_dir);
std::string tradeoff_table(const std::vector<TradeoffPoint>& points);
// A self-contained SVG: size (KB, log scale) on x, top-1 accuracy on y, one labelled point
// per run, joined in order of size.
std::string tradeoff_svg(const std::vector<TradeoffPoint>& points);

int plot_main(int argc, char** argv);

}  // namespace lnx::tools
