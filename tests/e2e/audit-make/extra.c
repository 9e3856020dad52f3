/* Reads the generated header; only the compiler's dependency file says so. */
#include "config.h"

int extra(void)
{
	return GREETING[0] == 'h' ? 0 : 1;
}
