// Process-wide PKCS#11 state: modules, per-process initialisation, one
// session per token, cached key handles. See pkcs11_token.hpp.
#include "pkcs11_token.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "error.hpp"
#include "pkcs11_ckr.hpp"
#include "pkcs11_pin.hpp"
#include "pkcs11_uri.hpp"
#include "secure.hpp"

namespace orgcrypt {
namespace p11 {

namespace {

struct KeyEntry {
  ck_object_handle_t handle;
  std::uint64_t generation;
};

struct TokenState {
  ck_slot_id_t slot = 0;
  ck_session_handle_t session = 0;
  std::string login_pin;  // pin-source path of the current login ("" = none)
  std::map<std::string, KeyEntry> keys;
};

struct Module {
  void* dl = nullptr;
  struct ck_function_list* fl = nullptr;
  pid_t init_pid = 0;  // the process that initialised it (0: none yet)
  bool owned = false;  // initialised by us (else by someone else in this process: never finalised)
  std::map<std::string, TokenState> tokens;
};

// Never destroyed: a backend exits without unloading modules.
std::map<std::string, std::unique_ptr<Module>>& modules() {
  static auto* m = new std::map<std::string, std::unique_ptr<Module>>;
  return *m;
}

std::uint64_t g_generation = 0;

[[noreturn]] void fail(const std::string& msg, const std::string& detail = {}, const std::string& hint = {}) {
  throw Error(sqlstate::kSystemError, msg, detail, hint);
}

Module& load(const std::string& path) {
  auto& ms = modules();
  auto it = ms.find(path);
  if (it != ms.end()) return *it->second;
  dlerror();
  void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char* e = dlerror();
    fail("could not load the PKCS#11 module \"" + path + "\"", e ? e : "",
         "module-path must name a PKCS#11 library that the server's OS user can read.");
  }
  auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(dl, "C_GetFunctionList"));
  if (!get) {
    dlclose(dl);
    fail("\"" + path + "\" is not a PKCS#11 module (it has no C_GetFunctionList)");
  }
  struct ck_function_list* fl = nullptr;
  ck_rv_t rv = get(&fl);
  if (rv != CKR_OK || !fl) {
    dlclose(dl);
    fail("C_GetFunctionList of \"" + path + "\" returned " + ckr_name(rv));
  }
  auto m = std::make_unique<Module>();
  m->dl = dl;
  m->fl = fl;
  Module& ref = *m;
  ms.emplace(path, std::move(m));
  return ref;
}

Failure initialize(Module& m) {
  const pid_t pid = ::getpid();
  if (m.init_pid == pid) return {};
  const bool forked = m.init_pid != 0;
  m.tokens.clear();  // after a fork: the parent's sessions, not ours to close
  struct ck_c_initialize_args args;
  std::memset(&args, 0, sizeof args);
  args.flags = CKF_OS_LOCKING_OK;
  ck_rv_t rv = m.fl->C_Initialize(&args);
  bool owned = true;
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    if (forked) {  // the parent's state, inherited: start afresh
      m.fl->C_Finalize(nullptr);
      rv = m.fl->C_Initialize(&args);
    } else {  // initialised by someone else in this process
      rv = CKR_OK;
      owned = false;
    }
  }
  if (rv != CKR_OK) return call_failed("C_Initialize", rv);
  m.init_pid = pid;
  m.owned = owned;
  return {};
}

// A blank-padded PKCS#11 text field without its padding.
std::string unpad(const unsigned char* p, std::size_t n) {
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0')) n--;
  return std::string(reinterpret_cast<const char*>(p), n);
}

template <std::size_t N>
bool matches(const Target& t, const char* attr, const unsigned char (&field)[N]) {
  auto it = t.select.find(attr);
  return it == t.select.end() || it->second == unpad(field, N);
}

std::string selection(const Target& t) {
  std::string s;
  for (const auto& kv : t.select) s += (s.empty() ? "" : ";") + kv.first + "=\"" + kv.second + "\"";
  return s.empty() ? "(any token)" : s;
}

Failure check_library(struct ck_function_list* fl, const Target& t) {
  if (!t.select.count("library-manufacturer") && !t.select.count("library-description") &&
      !t.select.count("library-version"))
    return {};
  struct ck_info info;
  ck_rv_t rv = fl->C_GetInfo(&info);
  if (rv != CKR_OK) return call_failed("C_GetInfo", rv);
  bool ok = matches(t, "library-manufacturer", info.manufacturer_id) &&
            matches(t, "library-description", info.library_description);
  auto v = t.select.find("library-version");
  if (ok && v != t.select.end()) {
    std::string have = std::to_string(info.library_version.major);
    if (v->second.find('.') != std::string::npos) have += "." + std::to_string(info.library_version.minor);
    ok = have == v->second;
  }
  if (!ok) return {"C_GetInfo", 0, "the module is not the library the URI names (library-* attributes)"};
  return {};
}

Failure find_slot(struct ck_function_list* fl, const Target& t, ck_slot_id_t* out) {
  if (Failure f = check_library(fl, t)) return f;
  std::vector<ck_slot_id_t> slots;
  for (int i = 0; i < 4; i++) {
    unsigned long n = 0;
    ck_rv_t rv = fl->C_GetSlotList(1, nullptr, &n);
    if (rv != CKR_OK) return call_failed("C_GetSlotList", rv);
    slots.resize(n);
    if (n == 0) break;
    rv = fl->C_GetSlotList(1, slots.data(), &n);
    if (rv == CKR_BUFFER_TOO_SMALL) continue;  // a token arrived meanwhile
    if (rv != CKR_OK) return call_failed("C_GetSlotList", rv);
    slots.resize(n);
    break;
  }
  const bool want_slot_info = t.select.count("slot-description") || t.select.count("slot-manufacturer");
  auto sid = t.select.find("slot-id");
  std::vector<ck_slot_id_t> hits;
  for (ck_slot_id_t s : slots) {
    if (sid != t.select.end() && std::strtoull(sid->second.c_str(), nullptr, 10) != s) continue;
    if (want_slot_info) {
      struct ck_slot_info si;
      if (fl->C_GetSlotInfo(s, &si) != CKR_OK) continue;
      if (!matches(t, "slot-description", si.slot_description) || !matches(t, "slot-manufacturer", si.manufacturer_id))
        continue;
    }
    struct ck_token_info ti;
    if (fl->C_GetTokenInfo(s, &ti) != CKR_OK) continue;  // removed meanwhile
    if (!(ti.flags & CKF_TOKEN_INITIALIZED)) continue;
    if (matches(t, "token", ti.label) && matches(t, "manufacturer", ti.manufacturer_id) &&
        matches(t, "model", ti.model) && matches(t, "serial", ti.serial_number))
      hits.push_back(s);
  }
  if (hits.empty())
    return {"C_GetTokenInfo", CKR_TOKEN_NOT_PRESENT, "no slot of the module holds a token matching " + selection(t), true};
  if (hits.size() > 1)
    return {"C_GetTokenInfo", 0,
            std::to_string(hits.size()) + " tokens match " + selection(t) + ": add serial= to the URI"};
  *out = hits[0];
  return {};
}

Failure login(struct ck_function_list* fl, TokenState& tok, const Target& t) {
  if (t.pin_path.empty() || tok.login_pin == t.pin_path) return {};
  if (!tok.login_pin.empty()) {  // logged in with another PIN file: prove this one
    fl->C_Logout(tok.session);
    tok.login_pin.clear();
    tok.keys.clear();
  }
  SecretBytes pin = read_pin_file(t.pin_path);
  ck_rv_t rv = fl->C_Login(tok.session, CKU_USER, pin.data(), pin.size());
  if (rv == CKR_USER_ALREADY_LOGGED_IN) {  // by someone else: this PIN must still be right
    fl->C_Logout(tok.session);
    rv = fl->C_Login(tok.session, CKU_USER, pin.data(), pin.size());
  }
  if (rv != CKR_OK) return call_failed("C_Login", rv);
  tok.login_pin = t.pin_path;
  return {};
}

std::string key_words(const Target& t) {
  std::string s;
  if (t.object) s += "object=\"" + *t.object + "\"";
  if (t.id) s += std::string(s.empty() ? "" : " ") + "id (" + std::to_string(t.id->size()) + " bytes)";
  return s;
}

Failure find_key(struct ck_function_list* fl, ck_session_handle_t session, const Target& t, ck_object_handle_t* out) {
  ck_object_class_t cls = CKO_SECRET_KEY;
  ck_key_type_t type = CKK_AES;
  unsigned char no = 0;
  std::vector<struct ck_attribute> tmpl = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}};
  if (t.object) tmpl.push_back({CKA_LABEL, const_cast<char*>(t.object->data()), t.object->size()});
  if (t.id) tmpl.push_back({CKA_ID, const_cast<char*>(t.id->data()), t.id->size()});
  if (t.pin_path.empty()) tmpl.push_back({CKA_PRIVATE, &no, sizeof no});  // no login: public objects only
  ck_rv_t rv = fl->C_FindObjectsInit(session, tmpl.data(), tmpl.size());
  if (rv != CKR_OK) return call_failed("C_FindObjectsInit", rv);
  ck_object_handle_t found[2];
  unsigned long n = 0;
  rv = fl->C_FindObjects(session, found, 2, &n);
  fl->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return call_failed("C_FindObjects", rv);
  if (n == 0)  // retried: SoftHSM hides every object of a token it once failed to read
    return {"C_FindObjects", 0,
            "no AES secret key " + std::string(t.pin_path.empty() ? "(public, as the URI has no pin-source) " : "") +
                "matches " + key_words(t),
            true};
  if (n > 1) return {"C_FindObjects", 0, "more than one AES secret key matches " + key_words(t) + ": add id= to the URI"};
  unsigned char sensitive = 0, extractable = 1;
  unsigned long len = 0;
  struct ck_attribute attrs[] = {{CKA_SENSITIVE, &sensitive, sizeof sensitive},
                                 {CKA_EXTRACTABLE, &extractable, sizeof extractable},
                                 {CKA_VALUE_LEN, &len, sizeof len}};
  rv = fl->C_GetAttributeValue(session, found[0], attrs, 3);
  if (rv != CKR_OK) return call_failed("C_GetAttributeValue", rv);
  if (!sensitive || extractable)
    return {"C_GetAttributeValue", 0,
            std::string("the key is ") + (extractable ? "extractable" : "not sensitive") +
                ": a master key must never leave the HSM (CKA_SENSITIVE true, CKA_EXTRACTABLE false)"};
  if (len != 32)
    return {"C_GetAttributeValue", 0,
            "the key is AES-" + std::to_string(len * 8) + ": a master key is AES-256 (32 bytes)"};
  *out = found[0];
  return {};
}

}  // namespace

Target::Target(const std::string& uri) {
  Pkcs11Uri u;
  std::string why = parse_pkcs11_uri(uri, &u);
  if (why.empty()) why = check_pkcs11_uri(uri);
  if (!why.empty()) fail("pkcs11: invalid key URI", why);
  module_path = u.query.at("module-path");
  for (const auto& kv : u.path) {
    if (kv.first == "object") object = kv.second;
    else if (kv.first == "id") id = kv.second;
    else if (kv.first != "type") select.emplace(kv.first, kv.second);
  }
  auto ps = u.query.find("pin-source");
  if (ps != u.query.end()) pin_path = pkcs11_pin_path(ps->second);
  for (const auto& kv : select) token_key += kv.first + '\x1f' + kv.second + '\x1e';
  key_key = (object ? "o" + *object : "-") + '\x1e' + (id ? "i" + *id : "-") + '\x1e' + (pin_path.empty() ? "public" : "any");
}

std::string Target::describe() const {
  return "key " + key_words(*this) + " in token " + selection(*this) + " of module " + module_path;
}

std::mutex& mutex() {
  static auto* m = new std::mutex;
  return *m;
}

long initialised_by(const std::string& module_path) {
  std::lock_guard<std::mutex> lock(mutex());
  auto it = modules().find(module_path);
  return it == modules().end() ? 0 : static_cast<long>(it->second->init_pid);
}

Failure acquire(const Target& t, KeyRef* out) {
  Module& m = load(t.module_path);
  if (Failure f = initialize(m)) return f;
  TokenState* tok;
  auto it = m.tokens.find(t.token_key);
  if (it != m.tokens.end()) {
    tok = &it->second;
  } else {
    ck_slot_id_t slot = 0;
    if (Failure f = find_slot(m.fl, t, &slot)) return f;
    ck_session_handle_t session = 0;
    ck_rv_t rv = m.fl->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session);
    if (rv != CKR_OK) return call_failed("C_OpenSession", rv);
    tok = &m.tokens[t.token_key];
    tok->slot = slot;
    tok->session = session;
  }
  if (Failure f = login(m.fl, *tok, t)) return f;
  auto k = tok->keys.find(t.key_key);
  if (k == tok->keys.end()) {
    ck_object_handle_t h = 0;
    if (Failure f = find_key(m.fl, tok->session, t, &h)) return f;
    k = tok->keys.emplace(t.key_key, KeyEntry{h, ++g_generation}).first;
  }
  out->fl = m.fl;
  out->session = tok->session;
  out->key = k->second.handle;
  out->generation = k->second.generation;
  return {};
}

void forget(const Target& t, unsigned long rv, bool deep) {
  auto mit = modules().find(t.module_path);
  if (mit == modules().end()) return;
  Module& m = *mit->second;
  if (m.init_pid != ::getpid()) {  // not initialised in this process: nothing of ours to close
    m.tokens.clear();
    return;
  }
  if (rv == CKR_CRYPTOKI_NOT_INITIALIZED || (deep && m.owned)) {
    if (rv != CKR_CRYPTOKI_NOT_INITIALIZED) m.fl->C_Finalize(nullptr);  // closes every session
    m.init_pid = 0;
    m.tokens.clear();
    return;
  }
  auto it = m.tokens.find(t.token_key);
  if (it == m.tokens.end()) return;
  TokenState& tok = it->second;
  if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID) {
    tok.keys.clear();
    return;
  }
  if (rv == CKR_USER_NOT_LOGGED_IN) {
    tok.login_pin.clear();
    tok.keys.clear();
    return;
  }
  // The session is gone or unusable: close it if it is still open on this
  // token (a handle the module dropped may since name another session).
  struct ck_session_info si;
  if (m.fl->C_GetSessionInfo(tok.session, &si) == CKR_OK && si.slot_id == tok.slot) m.fl->C_CloseSession(tok.session);
  m.tokens.erase(it);
}

Failure call_failed(const char* fn, unsigned long rv) {
  bool retry = false;
  switch (rv) {
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_DEVICE_REMOVED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_OPERATION_ACTIVE:
      retry = true;
      break;
    case CKR_GENERAL_ERROR:
    case CKR_DEVICE_ERROR:  // a token file read while another process rewrote it
      retry = std::strcmp(fn, "C_Login") == 0 || std::strcmp(fn, "C_OpenSession") == 0 ||
              std::strcmp(fn, "C_FindObjectsInit") == 0 || std::strcmp(fn, "C_FindObjects") == 0 ||
              std::strcmp(fn, "C_GetAttributeValue") == 0;
      break;
    case CKR_USER_PIN_NOT_INITIALIZED:  // SoftHSM read the token's PIN record mid-rewrite
      retry = std::strcmp(fn, "C_Login") == 0;
      break;
    default:
      break;
  }
  return {fn, rv, {}, retry};
}

}  // namespace p11
}  // namespace orgcrypt
