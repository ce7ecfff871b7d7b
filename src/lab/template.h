#pragma once
// Engine config templates: files under deploy/<engine>/ with {{var}} placeholders.

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>

namespace ztm::lab {

using Vars = std::map<std::string, std::string>;

// Replaces every {{name}} with vars[name]. Throws std::runtime_error naming a placeholder that
// has no value or is not closed (a template and its engine must agree).
std::string render(std::string_view text, const Vars& vars);

// The deploy/ directory: $ZTM_DEPLOY_DIR, else the source tree's (compiled in).
std::string deploy_dir();

// deploy/<engine>/<file> rendered. Throws std::runtime_error.
std::string render_template(const std::string& engine, const std::string& file, const Vars& vars);

// Renders deploy/<engine>/<file> into `target`. Throws std::runtime_error.
void render_file(const std::string& engine, const std::string& file, const Vars& vars,
                 const std::string& target, mode_t mode = 0644);

// Writes `content` to `path` (replacing it), created and chmod'ed to `mode`, never through a link
// (engines/files.h). Throws std::runtime_error.
void write_file(const std::string& path, std::string_view content, mode_t mode = 0644);

}  // namespace ztm::lab
