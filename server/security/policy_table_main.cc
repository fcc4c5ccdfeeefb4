// Prints the authorization policy table (server/security/policy.h) as the
// Markdown docs/security.md holds.
#include <iostream>

#include "server/security/policy.h"

int main() {
  std::cout << strata::security::PolicyMarkdown();
  return 0;
}
