package executor

// MaskLoggerForTest exposes maskLogger to the external tests.
var MaskLoggerForTest = maskLogger
