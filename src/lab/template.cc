#include "lab/template.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lab/engines/files.h"

namespace ztm::lab {

std::string render(std::string_view text, const Vars& vars) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    const auto open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos)
      throw std::runtime_error("template: unclosed {{ at offset " + std::to_string(open));
    const std::string name(text.substr(open + 2, close - open - 2));
    const auto it = vars.find(name);
    if (it == vars.end()) throw std::runtime_error("template: no value for {{" + name + "}}");
    out.append(text.substr(pos, open - pos));
    out += it->second;
    pos = close + 2;
  }
  out.append(text.substr(pos));
  return out;
}

std::string deploy_dir() {
  if (const char* dir = std::getenv("ZTM_DEPLOY_DIR"); dir && *dir) return dir;
  return ZTM_SOURCE_DEPLOY_DIR;
}

std::string render_template(const std::string& engine, const std::string& file, const Vars& vars) {
  const std::string source = deploy_dir() + "/" + engine + "/" + file;
  std::ifstream in(source);
  if (!in) throw std::runtime_error("cannot read template " + source);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return render(text.str(), vars);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(source + ": " + e.what());
  }
}

void render_file(const std::string& engine, const std::string& file, const Vars& vars,
                 const std::string& target, mode_t mode) {
  write_file(target, render_template(engine, file, vars), mode);
}

void write_file(const std::string& path, std::string_view content, mode_t mode) {
  write_private_file(path, content, mode);
}

}  // namespace ztm::lab
