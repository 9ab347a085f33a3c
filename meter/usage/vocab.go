package usage

// Category is the kind of endpoint a request went to.
type Category uint8

// Categories, from the endpoint.
const (
	CategoryOther Category = iota
	CategoryChatCompletions
	CategoryCompletions
	CategoryResponses
	CategoryEmbeddings
	CategoryImageGeneration
	CategoryAudio
	CategoryModeration
	numCategories
)

var categoryNames = [...]string{"other", "chat_completions", "completions", "responses", "embeddings", "image_generation", "audio", "moderation"}

// String returns the category name used in the API.
func (c Category) String() string {
	if int(c) < len(categoryNames) {
		return categoryNames[c]
	}
	return "other"
}

// ParseCategory is the inverse of Category.String.
func ParseCategory(s string) (Category, bool) {
	for i, n := range categoryNames {
		if n == s {
			return Category(i), true
		}
	}
	return CategoryOther, false
}

// Categories lists every category in order.
func Categories() []Category {
	out := make([]Category, numCategories)
	for i := range out {
		out[i] = Category(i)
	}
	return out
}

// ErrorType is the closed vocabulary of request failures.
type ErrorType uint8

// Error types; ErrNone means the request succeeded.
const (
	ErrNone ErrorType = iota
	ErrRateLimit
	ErrInvalidRequest
	ErrAuth
	ErrTimeout
	ErrModel
	ErrUpstreamUnreachable
	ErrBudgetExceeded
	// ErrClientClosed: the client hung up before the response ended.
	ErrClientClosed
	// ErrOther: a failure that fits none of the above.
	ErrOther
	numErrorTypes
)

var errorNames = [...]string{"", "rate_limit", "invalid_request", "auth_error", "timeout", "model_error", "upstream_unreachable", "budget_exceeded", "client_closed", "other"}

// String returns the error type label ("" for ErrNone).
func (e ErrorType) String() string {
	if int(e) < len(errorNames) {
		return errorNames[e]
	}
	return "other"
}

// ParseErrorType is the inverse of ErrorType.String.
func ParseErrorType(s string) (ErrorType, bool) {
	for i, n := range errorNames {
		if n == s {
			return ErrorType(i), true
		}
	}
	return ErrNone, false
}

// ErrorTypes lists every error type except ErrNone.
func ErrorTypes() []ErrorType {
	out := make([]ErrorType, 0, numErrorTypes-1)
	for i := ErrNone + 1; i < numErrorTypes; i++ {
		out = append(out, i)
	}
	return out
}

// ErrorFromStatus maps an HTTP status to an error type, before the body is
// read: 429 rate_limit; 400/404/413/422 (and other 4xx) invalid_request;
// 401/403 auth_error; 408/504 timeout; 5xx and 529 model_error.
func ErrorFromStatus(status int) ErrorType {
	switch {
	case status < 400:
		return ErrNone
	case status == 429:
		return ErrRateLimit
	case status == 401 || status == 403:
		return ErrAuth
	case status == 408 || status == 504:
		return ErrTimeout
	case status >= 500:
		return ErrModel
	}
	return ErrInvalidRequest
}
