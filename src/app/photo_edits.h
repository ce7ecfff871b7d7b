#pragma once
// The edit steps of POST /photos/{id}/edits as JSON, both ways:
//   [{"op":"crop","x":0,"y":0,"width":800,"height":600}, {"op":"sharpen","sigma":1},
//    {"op":"blur","sigma":2}, {"op":"resize","scale":0.5}, {"op":"rotate","angle":90}]
// Unknown ops and fields, missing fields and wrong types are invalid_argument naming the step
// ("operations[1].sigma: must be a number"). Ranges and the image size are checked by
// media::validate_operations.

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "media/image.h"

namespace ztm::app {

Result<std::vector<media::Operation>> operations_from_json(const boost::json::value& doc);
std::string operations_to_json(const std::vector<media::Operation>& ops);

}  // namespace ztm::app
