#pragma once
// The passwords people pick most often that pass the length rule (8 bytes or more): the top of
// the public breach-corpus frequency lists (the 8+ character entries of the usual "top 1000"
// lists), compared case-insensitively. An attacker tries these first against every account; a
// sign-up with one of them is refused (NIST SP 800-63B §5.1.1.2: check against "passwords
// obtained from previous breach corpuses" and "commonly-used" values).

#include <array>
#include <string_view>

namespace ztm::app {

inline constexpr std::array<std::string_view, 104> kCommonPasswords = {
    "password",      "12345678",   "123456789",    "1234567890",  "qwertyuiop",  "iloveyou",
    "11111111",      "00000000",   "password1",    "password123", "12341234",    "87654321",
    "123123123",     "qwerty123",  "1q2w3e4r",     "1qaz2wsx",    "zaq12wsx",    "abcd1234",
    "abc12345",      "sunshine",   "princess",     "football",    "baseball",    "welcome1",
    "superman",      "trustno1",   "starwars",     "whatever",    "michelle",    "jennifer",
    "corvette",      "computer",   "mercedes",     "internet",    "mustang1",    "charlie1",
    "liverpool",     "chelsea1",   "arsenal1",     "basketball",  "letmein1",    "passw0rd",
    "p@ssw0rd",      "p@ssword",   "password!",    "qwertyui",    "asdfghjk",    "asdfasdf",
    "zxcvbnm1",      "q1w2e3r4",   "q1w2e3r4t5",   "1q2w3e4r5t",  "qazwsxedc",   "1234qwer",
    "qwer1234",      "11223344",   "12121212",     "22222222",    "55555555",    "88888888",
    "99999999",      "123456789a", "a123456789",   "1234567a",    "iloveyou1",   "iloveyou2",
    "babygirl1",     "princess1",  "sunshine1",    "football1",   "superman1",   "batman123",
    "monkey123",     "dragon123",  "shadow123",    "master123",   "welcome123",  "admin123",
    "administrator", "changeme",   "changeme1",    "default1",    "letmein123",  "lovely123",
    "secret123",     "password12", "password1234", "qwerty1234",  "qwertyuiop1", "1234554321",
    "0987654321",    "9876543210", "123321123",    "147258369",   "987654321",   "741852963",
    "159753456",     "1qazxsw2",   "michael1",     "jordan23",    "freedom1",    "whatever1",
    "hello123",      "flower123",
};

// True when `password` is one of kCommonPasswords, ignoring ASCII case.
bool common_password(std::string_view password);

}  // namespace ztm::app
