#include "lab/shards.h"

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <sstream>
#include <stdexcept>

#include "lab/engines/postgres_credentials.h"
#include "lab/health.h"

namespace ztm::lab {

namespace json = boost::json;

namespace {

// etcd's gateway carries keys and values in base64 (RFC 4648, padded). Beast has one, but the
// lab does not link Beast's compiled part.
constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string encode(std::string_view text) {
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (unsigned char ch : text) {
    bits = (bits << 8) | ch;
    for (held += 8; held >= 6; held -= 6) out += kBase64[(bits >> (held - 6)) & 63];
  }
  if (held > 0) out += kBase64[(bits << (6 - held)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

std::string decode(std::string_view text) {
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (char ch : text) {
    const auto at = kBase64.find(ch);
    if (at == std::string_view::npos) break;  // '=' or anything else ends the value
    bits = (bits << 6) | static_cast<std::uint32_t>(at);
    if ((held += 6) >= 8) {
      held -= 8;
      out += static_cast<char>((bits >> held) & 0xff);
    }
  }
  return out;
}

// POST `path` with a JSON body to etcd's gateway (HTTP/1.0: the answer ends with the
// connection, never chunked); the answer's JSON object. Throws std::runtime_error.
json::object etcd_call(const std::string& address, int port, const std::string& path,
                       const json::object& body, std::chrono::milliseconds timeout) {
  const std::string text = json::serialize(body);
  const std::string request =
      "POST " + path + " HTTP/1.0\r\nHost: " + address +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) +
      "\r\n\r\n" + text;
  const std::string where = "etcd " + address + ":" + std::to_string(port) + path;
  auto answer = exchange(address, port, request, timeout, 4 << 20);
  if (!answer) throw std::runtime_error(where + ": no answer");
  const auto end = answer->find("\r\n\r\n");
  if (answer->rfind("HTTP/1.", 0) != 0 || answer->size() < 12 || end == std::string::npos)
    throw std::runtime_error(where + ": not an HTTP answer");
  const std::string payload = answer->substr(end + 4);
  if (answer->substr(9, 3) != "200") throw std::runtime_error(where + ": " + payload);
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec || !v.is_object()) throw std::runtime_error(where + ": not JSON: " + payload);
  return std::move(v.as_object());
}

long long revision(const json::object& kv) {
  const auto* v = kv.if_contains("mod_revision");
  return v && v->is_string() ? std::stoll(std::string(v->as_string())) : 0;
}

}  // namespace

std::vector<LabShard> parse_shard_hosts(const std::string& spec) {
  std::vector<LabShard> out;
  std::stringstream entries(spec);
  for (std::string entry; std::getline(entries, entry, ',');) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size())
      throw std::invalid_argument("shard_hosts: '" + entry + "' is not NAME=HOST+HOST");
    LabShard shard{.name = entry.substr(0, eq)};
    std::stringstream hosts(entry.substr(eq + 1));
    for (std::string h; std::getline(hosts, h, '+');)
      if (!h.empty()) shard.hosts.push_back(h);
    out.push_back(std::move(shard));
  }
  return out;
}

std::string shard_conninfo(const std::string& password, const std::vector<std::string>& addresses) {
  return postgres_url(password, addresses) + "?target_session_attrs=read-write";
}

std::string even_shard_map(const std::vector<ShardEntry>& shards) {
  json::array list, buckets;
  for (const auto& s : shards)
    list.push_back(json::object{{"name", s.name}, {"conninfo", s.conninfo}});
  for (std::size_t b = 0; b < kShardBuckets; ++b)
    buckets.emplace_back(shards[b % shards.size()].name);
  return json::serialize(
      json::object{{"version", 1}, {"mode", "buckets"}, {"shards", list}, {"buckets", buckets}});
}

std::string map_with_shard(const std::string& map_json, const ShardEntry& shard) {
  boost::system::error_code ec;
  json::value v = json::parse(map_json, ec);
  auto* map = ec ? nullptr : v.if_object();
  auto* shards = map ? map->if_contains("shards") : nullptr;
  auto* version = map ? map->if_contains("version") : nullptr;
  if (!shards || !shards->is_array() || !version || !version->is_int64())
    throw std::invalid_argument("the shard map is not a map: " + map_json.substr(0, 200));
  for (const auto& s : shards->as_array())
    if (s.is_object() && s.as_object().if_contains("name") &&
        s.as_object().at("name") == json::value(shard.name))
      throw std::invalid_argument("the shard map has a shard " + shard.name + " already");
  shards->as_array().push_back(json::object{{"name", shard.name}, {"conninfo", shard.conninfo}});
  *version = version->as_int64() + 1;
  return json::serialize(v);
}

json::object summarize_shard_map(const std::string& map_json) {
  boost::system::error_code ec;
  const json::value v = json::parse(map_json, ec);
  const auto* map = ec ? nullptr : v.if_object();
  const auto* shards = map ? map->if_contains("shards") : nullptr;
  if (!shards || !shards->is_array()) return {{"error", "not a shard map"}};
  std::map<std::string, std::int64_t> held;
  if (const auto* buckets = map->if_contains("buckets"); buckets && buckets->is_array())
    for (const auto& b : buckets->as_array())
      if (b.is_string()) ++held[std::string(b.as_string())];
  json::array list;
  for (const auto& sv : shards->as_array()) {
    const auto* shard = sv.if_object();
    if (!shard || !shard->contains("name") || !shard->at("name").is_string())
      return {{"error", "a shard without a name"}};
    const std::string name(shard->at("name").as_string());
    list.push_back(json::object{
        {"name", name},
        {"buckets", held[name]},
        {"conninfo", shard->contains("conninfo") ? shard->at("conninfo") : json::value()}});
  }
  const auto* fenced = map->if_contains("fenced");
  return {{"version", map->contains("version") ? map->at("version") : json::value()},
          {"shards", std::move(list)},
          {"fenced", fenced && fenced->is_array() ? fenced->as_array().size() : 0}};
}

EtcdValue etcd_get(const std::string& address, int port, const std::string& key,
                   std::chrono::milliseconds timeout) {
  const auto answer = etcd_call(address, port, "/v3/kv/range", {{"key", encode(key)}}, timeout);
  const auto* kvs = answer.if_contains("kvs");
  if (!kvs || !kvs->is_array() || kvs->as_array().empty()) return {};
  const auto& kv = kvs->as_array().front().as_object();
  const auto* value = kv.if_contains("value");
  return {.value = value && value->is_string() ? decode(value->as_string()) : "",
          .mod_revision = revision(kv)};
}

bool etcd_put_if(const std::string& address, int port, const std::string& key,
                 const std::string& value, long long expected, std::chrono::milliseconds timeout) {
  const json::object txn = {
      {"compare", json::array{json::object{{"key", encode(key)},
                                           {"target", "MOD"},
                                           {"mod_revision", std::to_string(expected)},
                                           {"result", "EQUAL"}}}},
      {"success",
       json::array{json::object{
           {"request_put", json::object{{"key", encode(key)}, {"value", encode(value)}}}}}}};
  const auto answer = etcd_call(address, port, "/v3/kv/txn", txn, timeout);
  const auto* ok = answer.if_contains("succeeded");
  return ok && ok->is_bool() && ok->as_bool();
}

}  // namespace ztm::lab
