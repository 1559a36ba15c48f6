"""Errors shaped like the real API server's metav1.Status responses.

Every failure leaves the server as an ApiError carrying the HTTP code and the
Status object; the message texts follow k8s.io/apimachinery/pkg/api/errors.
"""


def status_object(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """An HTTP error answer with a Status body."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.status = status_object(code, reason, message, details)
        self.headers = headers or {}


def _details(rtype, name):
    details = {"kind": rtype.plural}
    if name:
        details["name"] = name
    if rtype.group:
        details["group"] = rtype.group
    return details


def qualified(rtype):
    return f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural


def not_found(rtype, name):
    return ApiError(404, "NotFound", f'{qualified(rtype)} "{name}" not found',
                    _details(rtype, name))


def already_exists(rtype, name):
    return ApiError(409, "AlreadyExists", f'{qualified(rtype)} "{name}" already exists',
                    _details(rtype, name))


def conflict(rtype, name):
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(rtype)} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and "
                    "try again", _details(rtype, name))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message="the server does not allow this method on the requested resource"):
    return ApiError(405, "MethodNotAllowed", message)


def expired(message):
    return ApiError(410, "Expired", message)


def invalid(kind, group, name, causes):
    """422 Invalid; causes are (field, reason, body) triples, as field.ErrorList renders them."""
    rendered = [f"{field}: {body}" if field else body for field, _, body in causes]
    text = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    qualified_kind = f"{kind}.{group}" if group else kind
    details = {"name": name, "kind": kind,
               "causes": [{"reason": reason, "message": body, "field": field}
                          for field, reason, body in causes]}
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {text}', details)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def internal(message):
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})


def too_many_requests(retry_after):
    return ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                    {"retryAfterSeconds": retry_after},
                    headers={"Retry-After": str(retry_after)})
