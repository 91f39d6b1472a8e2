/*
 * Return codes for asynchronous pipeline stages and policy rules
 * (STYLE.md rule 5, after nginx).  Modules that are neither return
 * plain int 0 / -1 or pointer / NULL instead.
 */
#ifndef ENROLLD_RC_H
#define ENROLLD_RC_H

enum rc {
	RC_OK = 0,       /* done, result available */
	RC_ERROR = -1,   /* failed; a reason has been recorded */
	RC_AGAIN = -2,   /* in progress; a callback resumes the caller */
	RC_DECLINED = -3 /* not mine; never an error */
};

#endif
