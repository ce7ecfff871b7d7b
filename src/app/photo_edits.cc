#include "app/photo_edits.h"

#include <boost/json/serialize.hpp>
#include <cmath>
#include <map>

namespace ztm::app {
namespace json = boost::json;
using media::Operation;

namespace {

struct OpSpec {
  Operation::Kind kind;
  std::vector<const char*> fields;
};

const std::map<std::string, OpSpec, std::less<>>& specs() {
  static const std::map<std::string, OpSpec, std::less<>> all = {
      {"crop", {Operation::Kind::crop, {"x", "y", "width", "height"}}},
      {"sharpen", {Operation::Kind::sharpen, {"sigma"}}},
      {"blur", {Operation::Kind::blur, {"sigma"}}},
      {"resize", {Operation::Kind::resize, {"scale"}}},
      {"rotate", {Operation::Kind::rotate, {"angle"}}},
  };
  return all;
}

Error invalid(const std::string& where, const std::string& what) {
  return Error{Errc::invalid_argument, where + ": " + what};
}

}  // namespace

Result<std::vector<Operation>> operations_from_json(const json::value& doc) {
  const auto* list = doc.if_array();
  if (!list) return invalid("operations", "must be a list of steps");
  if (list->empty()) return invalid("operations", "must have at least one step");
  std::vector<Operation> out;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string at = "operations[" + std::to_string(i) + "]";
    const auto* step = (*list)[i].if_object();
    if (!step) return invalid(at, "must be an object like {\"op\":\"blur\",\"sigma\":2}");
    const auto* op = step->if_contains("op");
    if (!op || !op->is_string())
      return invalid(at + ".op", "required: crop, sharpen, blur, resize or rotate");
    auto spec = specs().find(std::string_view(op->as_string()));
    if (spec == specs().end())
      return invalid(at + ".op", "must be crop, sharpen, blur, resize or rotate");
    Operation o;
    o.kind = spec->second.kind;
    for (const auto& member : *step) {
      const auto key = member.key();  // not a structured binding: clang 14 cannot capture one
      if (key == "op") continue;
      const auto& fields = spec->second.fields;
      if (std::find_if(fields.begin(), fields.end(), [&](const char* f) { return key == f; }) ==
          fields.end())
        return invalid(at + "." + std::string(key),
                       "unknown field for " + std::string(op->as_string()));
    }
    for (const char* field : spec->second.fields) {
      const auto* v = step->if_contains(field);
      const std::string where = at + "." + field;
      if (!v || !v->is_number()) return invalid(where, "required, a number");
      const double d = v->to_number<double>();
      const bool integral =
          std::string_view(field) != "sigma" && std::string_view(field) != "scale";
      if (integral && (d != std::floor(d) || std::abs(d) > 1e9))
        return invalid(where, "must be an integer");
      const std::string_view f(field);
      if (f == "x")
        o.x = static_cast<int>(d);
      else if (f == "y")
        o.y = static_cast<int>(d);
      else if (f == "width")
        o.width = static_cast<int>(d);
      else if (f == "height")
        o.height = static_cast<int>(d);
      else if (f == "sigma")
        o.sigma = d;
      else if (f == "scale")
        o.scale = d;
      else if (f == "angle")
        o.angle = static_cast<int>(d);
    }
    out.push_back(o);
  }
  return out;
}

std::string operations_to_json(const std::vector<Operation>& ops) {
  json::array out;
  for (const auto& o : ops) {
    switch (o.kind) {
      case Operation::Kind::crop:
        out.push_back(
            {{"op", "crop"}, {"x", o.x}, {"y", o.y}, {"width", o.width}, {"height", o.height}});
        break;
      case Operation::Kind::sharpen:
        out.push_back({{"op", "sharpen"}, {"sigma", o.sigma}});
        break;
      case Operation::Kind::blur:
        out.push_back({{"op", "blur"}, {"sigma", o.sigma}});
        break;
      case Operation::Kind::resize:
        out.push_back({{"op", "resize"}, {"scale", o.scale}});
        break;
      case Operation::Kind::rotate:
        out.push_back({{"op", "rotate"}, {"angle", o.angle}});
        break;
    }
  }
  return json::serialize(out);
}

}  // namespace ztm::app
