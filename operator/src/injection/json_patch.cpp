#include "injection/json_patch.h"

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

namespace agentproxy::injection {
namespace {

using nlohmann::json;

std::vector<std::string> splitPointer(const std::string& pointer) {
  if (pointer.empty()) return {};
  if (pointer.front() != '/') throw PatchError("must be empty or start with '/'");
  std::vector<std::string> tokens;
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
    } else if (pointer[i] == '~') {
      if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
        throw PatchError("'~' must be followed by '0' or '1'");
      }
      token += pointer[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      token += pointer[i];
    }
  }
  return tokens;
}

// An index into an array of `size` elements; `allowEnd` accepts size itself and "-" (add).
size_t arrayIndex(const std::string& token, size_t size, bool allowEnd) {
  if (token == "-") {
    if (!allowEnd) throw PatchError("'-' is only valid for add");
    return size;
  }
  bool canonical = !token.empty() && token.size() <= 9 &&
                   token.find_first_not_of("0123456789") == std::string::npos &&
                   (token == "0" || token.front() != '0');
  if (!canonical) throw PatchError("'" + token + "' is not an array index");
  size_t index = std::stoul(token);
  if (index > size || (index == size && !allowEnd)) {
    throw PatchError("index " + token + " is out of range (size " + std::to_string(size) + ")");
  }
  return index;
}

json& childAt(json& node, const std::string& token) {
  if (node.is_object()) {
    auto it = node.find(token);
    if (it == node.end()) throw PatchError("member '" + token + "' does not exist");
    return *it;
  }
  if (node.is_array()) return node[arrayIndex(token, node.size(), false)];
  throw PatchError("'" + token + "' is below a value that is neither an object nor an array");
}

void applyOperation(json& document, const json& operation) {
  if (!operation.is_object()) throw PatchError("operation is not an object");
  auto op = operation.find("op");
  auto path = operation.find("path");
  if (op == operation.end() || !op->is_string()) throw PatchError("missing string 'op'");
  if (path == operation.end() || !path->is_string()) throw PatchError("missing string 'path'");
  const std::string& name = op->get_ref<const std::string&>();
  if (name != "add" && name != "replace" && name != "remove") {
    throw PatchError("unsupported op '" + name + "'");
  }
  const json* value = nullptr;
  if (name != "remove") {
    auto it = operation.find("value");
    if (it == operation.end()) throw PatchError("missing 'value'");
    value = &*it;
  }

  std::vector<std::string> tokens = splitPointer(path->get_ref<const std::string&>());
  if (tokens.empty()) {
    if (name == "remove") throw PatchError("cannot remove the whole document");
    document = *value;
    return;
  }
  json* parent = &document;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) parent = &childAt(*parent, tokens[i]);
  const std::string& last = tokens.back();

  if (parent->is_object()) {
    bool exists = parent->contains(last);
    if (name != "add" && !exists) throw PatchError("member '" + last + "' does not exist");
    if (name == "remove") {
      parent->erase(last);
    } else {
      (*parent)[last] = *value;
    }
  } else if (parent->is_array()) {
    size_t index = arrayIndex(last, parent->size(), name == "add");
    if (name == "add") {
      parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(index), *value);
    } else if (name == "replace") {
      (*parent)[index] = *value;
    } else {
      parent->erase(index);
    }
  } else {
    throw PatchError("the parent of '" + last + "' is neither an object nor an array");
  }
}

}  // namespace

std::string escapePointerToken(std::string_view token) {
  std::string escaped;
  escaped.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      escaped += "~0";
    } else if (c == '/') {
      escaped += "~1";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

json applyJsonPatch(const json& document, const json& patch) {
  if (!patch.is_array()) throw PatchError("a JSON Patch must be an array of operations");
  json result = document;
  for (size_t i = 0; i < patch.size(); ++i) {
    try {
      applyOperation(result, patch[i]);
    } catch (const PatchError& e) {
      std::string path =
          patch[i].is_object() && patch[i].contains("path") && patch[i]["path"].is_string()
              ? patch[i]["path"].get<std::string>()
              : "";
      throw PatchError("operation " + std::to_string(i) + " (" + path + "): " + e.what());
    } catch (const json::exception& e) {
      throw PatchError("operation " + std::to_string(i) + ": " + e.what());
    }
  }
  return result;
}

}  // namespace agentproxy::injection
