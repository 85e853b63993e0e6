// The subcommands of the `lilnetx` program; main.cpp dispatches on the first argument.
#pragma once

namespace lnx::tools {

// Each takes the arguments after the subcommand name and returns the process exit code.
int bench_main(int argc, char** argv);
int train_main(int argc, char** argv);
int eval_main(int argc, char** argv);
int compress_main(int argc, char** argv);
int decompress_main(int argc, char** argv);
int inspect_main(int argc, char** argv);

}  // namespace lnx::tools
