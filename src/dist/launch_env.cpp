#include "dist/launch_env.h"

#include <charconv>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <vector>

namespace alibi {

std::string LaunchInfo::label() const {
  return "rank " + std::to_string(rank) + "/" + std::to_string(world_size);
}

EnvLookup process_env() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

LaunchInfo detect_launch() { return detect_launch(process_env()); }

namespace {

// The names one launcher uses; `local_rank`/`local_size` may have an
// alternative spelling (MPICH derivatives differ).
struct LauncherVars {
  const char* launcher;
  const char* rank;
  const char* size;
  std::vector<const char*> local_rank;
  std::vector<const char*> local_size;
};

// A variable's value, with "" treated as unset (`FOO= cmd` is how people unset).
std::optional<std::string> lookup(const EnvLookup& env, const char* name) {
  const char* value = env(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

std::string quoted(const char* name, const std::string& value) { return std::string(name) + "='" + value + "'"; }

[[noreturn]] void bad_value(const char* name, const std::string& value, const std::string& why) {
  throw std::runtime_error("launch environment: " + quoted(name, value) + " " + why);
}

int parse_count(const char* name, const std::string& value) {
  int out = 0;
  const char* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, out);
  if (ec != std::errc() || ptr != end) bad_value(name, value, "is not an integer");
  return out;
}

// The first of `names` that is set, as {name, value}.
std::optional<std::pair<const char*, int>> first_int(const EnvLookup& env, const std::vector<const char*>& names) {
  for (const char* name : names) {
    if (auto value = lookup(env, name)) return std::make_pair(name, parse_count(name, *value));
  }
  return std::nullopt;
}

// Checks 0 <= index < count and count >= 1, naming both variables.
void check_index(const char* index_name, int index, const char* count_name, int count) {
  if (count < 1) bad_value(count_name, std::to_string(count), "must be at least 1");
  if (index < 0 || index >= count) {
    bad_value(index_name, std::to_string(index),
              "is out of range for " + quoted(count_name, std::to_string(count)) + " (ranks are 0.." +
                  std::to_string(count - 1) + ")");
  }
}

[[noreturn]] void missing_partner(const char* present, const std::string& value, const char* missing) {
  throw std::runtime_error("launch environment: " + quoted(present, value) + " is set but " + missing +
                           " is not; set both (or neither)");
}

// Rank and world size, which must come together.
void read_global(const EnvLookup& env, const LauncherVars& vars, LaunchInfo& info) {
  const auto rank = lookup(env, vars.rank);
  const auto size = lookup(env, vars.size);
  if (rank && !size) missing_partner(vars.rank, *rank, vars.size);
  if (size && !rank) missing_partner(vars.size, *size, vars.rank);
  if (!rank) {
    throw std::runtime_error(std::string("launch environment: per-node variables are set but ") + vars.rank +
                             " and " + vars.size + " are not");
  }
  info.rank = parse_count(vars.rank, *rank);
  info.world_size = parse_count(vars.size, *size);
  check_index(vars.rank, info.rank, vars.size, info.world_size);
}

// The per-node pair. Where the launcher gives neither, `allow_default`
// decides: our own launch means "all on one node"; for MPI that guess
// would put two ranks on one GPU on a multi-node run, so it is an error.
void read_local(const EnvLookup& env, const LauncherVars& vars, bool allow_default, LaunchInfo& info) {
  const auto local_rank = first_int(env, vars.local_rank);
  const auto local_size = first_int(env, vars.local_size);
  if (!local_rank && !local_size && allow_default) {
    info.local_rank = info.rank;
    info.local_world_size = info.world_size;
    return;
  }
  if (!local_rank || !local_size) {
    const char* present = local_rank ? local_rank->first : local_size ? local_size->first : vars.rank;
    const int value = local_rank ? local_rank->second : local_size ? local_size->second : info.rank;
    missing_partner(present, std::to_string(value), local_rank ? vars.local_size[0] : vars.local_rank[0]);
  }
  info.local_rank = local_rank->second;
  info.local_world_size = local_size->second;
  check_index(local_rank->first, info.local_rank, local_size->first, info.local_world_size);
  if (info.local_world_size > info.world_size) {
    bad_value(local_size->first, std::to_string(info.local_world_size),
              "is larger than " + quoted(vars.size, std::to_string(info.world_size)));
  }
}

bool any_set(const EnvLookup& env, const std::vector<const char*>& names) {
  for (const char* name : names) {
    if (lookup(env, name)) return true;
  }
  return false;
}

LaunchInfo read_launcher(const EnvLookup& env, const LauncherVars& vars, bool allow_local_default) {
  LaunchInfo info;
  info.launcher = vars.launcher;
  read_global(env, vars, info);
  read_local(env, vars, allow_local_default, info);
  return info;
}

LaunchInfo detect_alibi(const EnvLookup& env) {
  LaunchInfo info = read_launcher(
      env, {"alibi", "ALIBI_RANK", "ALIBI_WORLD_SIZE", {"ALIBI_LOCAL_RANK"}, {"ALIBI_LOCAL_WORLD_SIZE"}}, true);
  info.job_id = lookup(env, "ALIBI_JOB_ID").value_or("");
  return info;
}

LaunchInfo detect_openmpi(const EnvLookup& env) {
  LaunchInfo info = read_launcher(env,
                                  {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                                   {"OMPI_COMM_WORLD_LOCAL_RANK"}, {"OMPI_COMM_WORLD_LOCAL_SIZE"}},
                                  false);
  info.job_id = lookup(env, "OMPI_MCA_ess_base_jobid").value_or("");
  return info;
}

LaunchInfo detect_mpich(const EnvLookup& env) {
  // Hydra sets MPI_LOCAL*; PMI_LOCAL_* is what Cray's PALS gives.
  return read_launcher(env,
                       {"mpich", "PMI_RANK", "PMI_SIZE", {"MPI_LOCALRANKID", "PMI_LOCAL_RANK"},
                        {"MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"}},
                       false);
}

// Slurm's per-node task counts, "2(x3),1" meaning 2,2,2,1.
std::vector<int> expand_tasks_per_node(const std::string& text) {
  const char* name = "SLURM_STEP_TASKS_PER_NODE";
  const std::string why = "is not a list like 2(x3),1";
  std::vector<int> counts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    const size_t paren = item.find("(x");
    int repeat = 1;
    if (paren != std::string::npos) {
      if (item.back() != ')') bad_value(name, text, why);
      repeat = parse_count(name, item.substr(paren + 2, item.size() - paren - 3));
    }
    const int count = parse_count(name, item.substr(0, paren));
    if (repeat < 1 || count < 1) bad_value(name, text, why);
    counts.insert(counts.end(), repeat, count);
    pos = comma + 1;
  }
  return counts;
}

// The number of tasks of this step on this node. srun gives the list per
// node; where it is uniform no node index is needed.
int slurm_local_size(const EnvLookup& env, int world_size) {
  const auto tasks = lookup(env, "SLURM_STEP_TASKS_PER_NODE");
  if (!tasks) {
    const auto nodes = lookup(env, "SLURM_STEP_NUM_NODES");
    if (nodes && parse_count("SLURM_STEP_NUM_NODES", *nodes) == 1) return world_size;
    throw std::runtime_error(
        "launch environment: srun set SLURM_PROCID but not SLURM_STEP_TASKS_PER_NODE, so the number of "
        "ranks on this node is unknown; set ALIBI_RANK, ALIBI_WORLD_SIZE, ALIBI_LOCAL_RANK and "
        "ALIBI_LOCAL_WORLD_SIZE instead");
  }
  const std::vector<int> counts = expand_tasks_per_node(*tasks);
  if (counts.empty()) bad_value("SLURM_STEP_TASKS_PER_NODE", *tasks, "is empty");
  bool uniform = true;
  for (int c : counts) uniform = uniform && c == counts[0];
  if (uniform) return counts[0];
  const auto node = lookup(env, "SLURM_NODEID");
  const int node_id = node ? parse_count("SLURM_NODEID", *node) : -1;
  if (node_id < 0 || node_id >= static_cast<int>(counts.size())) {
    bad_value("SLURM_NODEID", node.value_or(""), "does not index " + quoted("SLURM_STEP_TASKS_PER_NODE", *tasks));
  }
  return counts[node_id];
}

LaunchInfo detect_slurm(const EnvLookup& env) {
  LaunchInfo info;
  info.launcher = "slurm";
  read_global(env, {"slurm", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", {}, {}}, info);
  const auto local_id = lookup(env, "SLURM_LOCALID");
  if (!local_id) missing_partner("SLURM_PROCID", std::to_string(info.rank), "SLURM_LOCALID");
  info.local_rank = parse_count("SLURM_LOCALID", *local_id);
  info.local_world_size = slurm_local_size(env, info.world_size);
  check_index("SLURM_LOCALID", info.local_rank, "SLURM_STEP_TASKS_PER_NODE (this node's count)",
              info.local_world_size);
  if (const auto job = lookup(env, "SLURM_JOB_ID")) {
    const auto step = lookup(env, "SLURM_STEP_ID");
    info.job_id = step ? *job + "." + *step : *job;
  }
  return info;
}

}  // namespace

LaunchInfo detect_launch(const EnvLookup& env) {
  if (any_set(env, {"ALIBI_RANK", "ALIBI_WORLD_SIZE", "ALIBI_LOCAL_RANK", "ALIBI_LOCAL_WORLD_SIZE"})) {
    return detect_alibi(env);
  }
  if (any_set(env, {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"})) return detect_openmpi(env);
  if (any_set(env, {"PMI_RANK", "PMI_SIZE"})) return detect_mpich(env);
  // SLURM_NTASKS alone is also set inside a plain sbatch script (one
  // process); only srun's per-step variables mean "you are one of N tasks".
  if (lookup(env, "SLURM_PROCID") && lookup(env, "SLURM_STEP_NUM_TASKS")) return detect_slurm(env);
  return LaunchInfo{};
}

}  // namespace alibi
