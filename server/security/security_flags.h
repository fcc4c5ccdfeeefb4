// The transport-security flags every Strata binary takes (docs/security.md),
// defined once here and linked into each main: --tls_ca, --tls_cert,
// --tls_key, --insecure, --tls_refresh_s. An empty --tls_* flag falls back
// to the environment ($STRATA_TLS_CA, $STRATA_TLS_CERT, $STRATA_TLS_KEY),
// so a shell or a systemd unit can set them once for stratactl and the
// daemons.
#ifndef STRATA_SERVER_SECURITY_SECURITY_FLAGS_H_
#define STRATA_SERVER_SECURITY_SECURITY_FLAGS_H_

#include "server/security/credentials.h"

namespace strata {
namespace security {

// The flags' values (after ParseCommandLine), with the fallbacks above.
TlsOptions TlsOptionsFromFlags();

}  // namespace security
}  // namespace strata

#endif  // STRATA_SERVER_SECURITY_SECURITY_FLAGS_H_
