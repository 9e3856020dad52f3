/* Reads the generated header; the broken build file does not say so. */
#include <stdio.h>
#include "config.h"

int util(void);
int extra(void);

int main(void)
{
	puts(GREETING);
	return util() + extra();
}
