// The one set of status-propagation macros used everywhere in Strata
// (Abseil of Debian 12's vintage exports no RETURN_IF_ERROR /
// ASSIGN_OR_RETURN). Plain C++: no protobuf, no gRPC, so every layer,
// compression/ and the NN engine included, may use it.
//
//   STRATA_RETURN_IF_ERROR(DoThing());
//   STRATA_ASSIGN_OR_RETURN(Foo foo, MakeFoo());
//   STRATA_ASSIGN_OR_RETURN(auto [a, b], MakePair());   // not supported:
//                                                        // use a named value
#ifndef STRATA_PROTO_BASE_STATUS_MACROS_H_
#define STRATA_PROTO_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) once; returns it from the enclosing
// function when it is not OK.
#define STRATA_RETURN_IF_ERROR(expr)                                 \
  do {                                                               \
    ::absl::Status strata_status_ = (expr);                          \
    if (!strata_status_.ok()) return strata_status_;                 \
  } while (0)

#define STRATA_STATUS_CONCAT_INNER_(a, b) a##b
#define STRATA_STATUS_CONCAT_(a, b) STRATA_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::StatusOr<T>) once; returns its status from the
// enclosing function when it is not OK, else moves the value into `lhs`
// (a declaration such as `Foo foo` or an existing lvalue).
#define STRATA_ASSIGN_OR_RETURN(lhs, expr)                                    \
  STRATA_ASSIGN_OR_RETURN_IMPL_(                                              \
      STRATA_STATUS_CONCAT_(strata_statusor_, __LINE__), lhs, expr)

#define STRATA_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                                  \
  if (!var.ok()) return var.status();                 \
  lhs = std::move(var).value()

#endif  // STRATA_PROTO_BASE_STATUS_MACROS_H_
