/* Reads the generated header; the build file orders it with an order-only
 * prerequisite only. */
#include "config.h"

int util(void)
{
	return VERSION_STRING[0] == '1' ? 0 : 1;
}
