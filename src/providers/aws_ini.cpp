#include "aws_ini.hpp"

namespace orgcrypt {
namespace aws {

namespace {

bool space(char c) { return c == ' ' || c == '\t'; }

template <class S>
S trim(const S& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && space(s[a])) a++;
  while (b > a && space(s[b - 1])) b--;
  return s.substr(a, b - a);
}

}  // namespace

std::string parse_ini(ByteView text, IniFile* out) {
  if (text.size > kMaxIniFile) return "the file is longer than " + std::to_string(kMaxIniFile) + " bytes";
  IniFile f;
  IniSection* cur = nullptr;
  const char* p = reinterpret_cast<const char*>(text.data);
  std::size_t i = 0, lineno = 0;
  while (i < text.size) {
    std::size_t j = i;
    while (j < text.size && p[j] != '\n') j++;
    SecretString line(p + i, j - i);
    i = j + 1;
    lineno++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (char c : line)
      if (c == '\0') return "line " + std::to_string(lineno) + " contains a NUL byte";
    const bool indented = !line.empty() && space(line[0]);
    SecretString t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (indented) continue;  // a nested value ("s3 =" followed by indented lines)
    if (t[0] == '[') {
      if (t.back() != ']') return "line " + std::to_string(lineno) + ": a section header must end with ]";
      std::string name(trim(SecretString(t.substr(1, t.size() - 2))).c_str());
      if (name.empty()) return "line " + std::to_string(lineno) + ": an empty section name";
      if (name.size() > 256) return "line " + std::to_string(lineno) + ": a section name longer than 256 bytes";
      // "[profile   name]" -> "profile name"
      if (name.compare(0, 7, "profile") == 0 && name.size() > 7 && space(name[7])) {
        std::string rest = trim(name.substr(7));
        name = "profile " + rest;
      }
      if (f.sections.size() >= 1000 && !f.sections.count(name)) return "more than 1000 sections";
      cur = &f.sections[name];
      continue;
    }
    const std::size_t eq = t.find('=');
    if (eq == SecretString::npos) return "line " + std::to_string(lineno) + " is neither a [section] nor key = value";
    if (!cur) return "line " + std::to_string(lineno) + ": key = value before the first [section]";
    SecretString key = trim(SecretString(t.substr(0, eq)));
    if (key.empty()) return "line " + std::to_string(lineno) + ": an empty key";
    if (key.size() > 128) return "line " + std::to_string(lineno) + ": a key longer than 128 bytes";
    std::string lkey;
    for (char c : key) lkey.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    if (cur->size() >= 1000 && !cur->count(lkey)) return "more than 1000 keys in a section";
    (*cur)[lkey] = trim(SecretString(t.substr(eq + 1)));
  }
  if (out) *out = std::move(f);
  return {};
}

const IniSection* find_profile(const IniFile& f, const std::string& name, bool config_file) {
  auto get = [&](const std::string& s) -> const IniSection* {
    auto it = f.sections.find(s);
    return it == f.sections.end() ? nullptr : &it->second;
  };
  if (!config_file) return get(name);
  if (const IniSection* s = get("profile " + name)) return s;
  if (name == "default") return get("default");
  return nullptr;
}

}  // namespace aws
}  // namespace orgcrypt
