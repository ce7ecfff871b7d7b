#include "storage/phone_numbers.h"

#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace ztm::storage {

std::string encode_phone_numbers(const std::vector<std::string>& phones) {
  boost::json::array a;
  a.reserve(phones.size());
  for (const auto& p : phones) a.emplace_back(boost::json::string_view(p));
  return boost::json::serialize(a);
}

Result<std::vector<std::string>> decode_phone_numbers(std::string_view json, UserId id,
                                                      std::string_view backend) {
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;  // give back exactly the bytes that were stored
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(json, ec, {}, options);
  if (!ec && v.is_array()) {
    std::vector<std::string> phones;
    phones.reserve(v.get_array().size());
    for (const auto& p : v.get_array()) {
      if (!p.is_string()) break;
      phones.emplace_back(p.get_string());
    }
    if (phones.size() == v.get_array().size()) return phones;
  }
  return Error{
      Errc::internal,
      fmt::format("{}: user {}: phone_numbers is not a JSON array of strings", backend, id)};
}

}  // namespace ztm::storage
