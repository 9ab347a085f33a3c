package dialect

import (
	"bytes"

	"github.com/infermeter/infermeter/meter/usage"
)

// CategoryOf returns the endpoint category of a request path. The path may
// carry any prefix (/openai/deployments/x/chat/completions,
// /api/v1/chat/completions) and must not carry the query string. It does not
// allocate and is safe for concurrent use.
func CategoryOf(d Dialect, path []byte) usage.Category {
	p := bytes.TrimRight(path, "/")
	switch d {
	case Anthropic:
		switch {
		case hasSegSuffix(p, "messages/count_tokens"):
			return usage.CategoryOther
		case hasSegSuffix(p, "messages"):
			return usage.CategoryChatCompletions
		case hasSegSuffix(p, "complete"):
			return usage.CategoryCompletions
		}
		return usage.CategoryOther
	case Gemini:
		last := p[bytes.LastIndexByte(p, '/')+1:]
		if i := bytes.LastIndexByte(last, ':'); i >= 0 {
			switch string(last[i+1:]) {
			case "generateContent", "streamGenerateContent":
				return usage.CategoryChatCompletions
			case "embedContent", "batchEmbedContents":
				return usage.CategoryEmbeddings
			}
			return usage.CategoryOther
		}
		// Gemini's OpenAI-compatible endpoint (/v1beta/openai/...).
	}
	return openAICategory(p)
}

func openAICategory(p []byte) usage.Category {
	switch {
	case hasSegSuffix(p, "chat/completions"):
		return usage.CategoryChatCompletions
	case hasSegSuffix(p, "completions"):
		return usage.CategoryCompletions
	case hasSegSuffix(p, "embeddings"):
		return usage.CategoryEmbeddings
	case hasSegSuffix(p, "images/generations"), hasSegSuffix(p, "images/edits"), hasSegSuffix(p, "images/variations"):
		return usage.CategoryImageGeneration
	case hasSegSuffix(p, "moderations"):
		return usage.CategoryModeration
	case hasSeg(p, "responses"):
		return usage.CategoryResponses
	case hasSeg(p, "audio"):
		return usage.CategoryAudio
	}
	return usage.CategoryOther
}

// hasSegSuffix reports whether p ends with the path segments suffix, starting
// at a segment boundary.
func hasSegSuffix(p []byte, suffix string) bool {
	if len(p) < len(suffix) || string(p[len(p)-len(suffix):]) != suffix {
		return false
	}
	return len(p) == len(suffix) || p[len(p)-len(suffix)-1] == '/'
}

// hasSeg reports whether seg is one whole segment of p.
func hasSeg(p []byte, seg string) bool {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '/')
		var s []byte
		if i < 0 {
			s, p = p, nil
		} else {
			s, p = p[:i], p[i+1:]
		}
		if string(s) == seg {
			return true
		}
	}
	return false
}
